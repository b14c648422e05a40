package zsync

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/crypto/md4"
)

// rolling is zsync's (and rsync's) rolling checksum of one block: a is
// the sum of its bytes, b the sum of each byte times its distance from
// the block's end, both mod 2^16.
type rolling struct{ a, b uint16 }

func rsum(block []byte) rolling {
	var r rolling
	n := uint16(len(block))
	for i, c := range block {
		r.a += uint16(c)
		r.b += (n - uint16(i)) * uint16(c)
	}
	return r
}

// roll moves the window one byte on: out leaves it, in enters it.
func (r *rolling) roll(out, in byte, shift uint) {
	r.a += uint16(in) - uint16(out)
	r.b += r.a - uint16(out)<<shift
}

func (r rolling) key(amask, bmask uint16) uint32 {
	return uint32(r.a&amask)<<16 | uint32(r.b&bmask)
}

func md4sum(b []byte) [md4.Size]byte {
	h := md4.New()
	h.Write(b)
	var s [md4.Size]byte
	h.Sum(s[:0])
	return s
}

// Target receives the blocks found (at block i × BlockSize, a whole
// block even for the last one: truncate the file to Length at the end).
type Target interface {
	WriteAt(p []byte, off int64) (int, error)
}

// Matcher finds a control file's blocks in local data.
type Matcher struct {
	c     *Control
	shift uint
	have  []uint64 // bitset of blocks obtained

	// The blocks not obtained yet, by hash bucket: ids[start[k]:start[k]+live[k]]
	// are bucket k's; pos[id] is id's index in ids, so that an obtained
	// block leaves its bucket in O(1). filter is a bitset of every
	// block's hash, tested before a bucket is looked at.
	ids    []int32
	start  []int32
	live   []int32
	pos    []int32
	kmask  uint32
	filter []uint64
	fmask  uint32
	got    int
}

// NewMatcher indexes c's blocks.
func (c *Control) NewMatcher() *Matcher {
	m := &Matcher{c: c, shift: uint(bits.TrailingZeros(uint(c.BlockSize))), have: make([]uint64, (c.blocks+63)/64)}
	nb := 1 << max(bits.Len(uint(c.blocks)), 4)
	m.kmask = uint32(nb - 1)
	m.fmask = uint32(nb*16 - 1)
	m.filter = make([]uint64, nb*16/64)
	m.start = make([]int32, nb+1)
	m.live = make([]int32, nb)
	keys := make([]uint32, c.blocks)
	for i := range c.blocks {
		h := m.hash(c.rsumOf(i), c.rsumOf(i+1))
		keys[i] = h
		m.start[(h&m.kmask)+1]++
		m.filter[(h&m.fmask)/64] |= 1 << ((h & m.fmask) % 64)
	}
	for k := 1; k <= nb; k++ {
		m.start[k] += m.start[k-1]
	}
	m.ids = make([]int32, c.blocks)
	m.pos = make([]int32, c.blocks)
	for i, h := range keys {
		k := h & m.kmask
		p := m.start[k] + m.live[k]
		m.ids[p], m.pos[i] = int32(i), p
		m.live[k]++
	}
	return m
}

// hash mixes the rolling checksums a match is looked up by: the block's
// and, with sequential matches, the next one's.
func (m *Matcher) hash(r0, r1 uint32) uint32 {
	h := r0 * 0x9E3779B1
	if m.c.SeqMatches > 1 {
		h ^= r1 * 0x85EBCA77
	}
	return h ^ h>>15
}

// Have reports whether block i was obtained.
func (m *Matcher) Have(i int) bool { return m.have[i/64]&(1<<(i%64)) != 0 }

// Got is the number of blocks obtained.
func (m *Matcher) Got() int { return m.got }

// Mark records block i as obtained by other means (a download).
func (m *Matcher) Mark(i int) {
	if i < 0 || i >= m.c.blocks || m.Have(i) {
		return
	}
	m.have[i/64] |= 1 << (i % 64)
	m.got++
	// Leave the bucket: swap with its last live id.
	h := m.hash(m.c.rsumOf(i), m.c.rsumOf(i+1))
	k := h & m.kmask
	p := m.pos[i]
	last := m.start[k] + m.live[k] - 1
	o := m.ids[last]
	m.ids[p], m.pos[o] = o, p
	m.ids[last], m.pos[i] = int32(i), last
	m.live[k]--
}

// Range is a run of blocks [First, End).
type Range struct{ First, End int }

// Missing lists the runs of blocks not obtained yet.
func (m *Matcher) Missing() []Range {
	var out []Range
	for i := 0; i < m.c.blocks; i++ {
		if m.Have(i) {
			continue
		}
		j := i + 1
		for j < m.c.blocks && !m.Have(j) {
			j++
		}
		out = append(out, Range{i, j})
		i = j
	}
	return out
}

// scanChunk is how much seed data is examined per buffer fill.
const scanChunk = 4 << 20

// Scan reads seed to its end and writes every block of the control file
// found in it to t (a block found more than once is written once). It
// returns the number of blocks newly found. progress, if set, is told
// the bytes of seed read.
func (m *Matcher) Scan(seed io.Reader, t Target, progress func(int64)) (int, error) {
	c := m.c
	L := c.BlockSize
	ctx := L * c.SeqMatches
	buf := make([]byte, 0, max(scanChunk, 4*ctx)+ctx)
	before := m.got
	eof := false
	fill := func() error {
		n, err := io.ReadFull(seed, buf[len(buf):cap(buf)-ctx])
		buf = buf[:len(buf)+n]
		if progress != nil && n > 0 {
			progress(int64(n))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// zsync pads the seed with zeros so that its last, partial
			// block can match the target's zero-padded last block.
			eof = true
			buf = append(buf, make([]byte, ctx)...)
			return nil
		}
		return err
	}
	if err := fill(); err != nil {
		return 0, err
	}
	x, valid := 0, false
	var r0, r1 rolling
	next := -1 // the block after the last one matched, tried alone first
	for {
		for x+ctx <= len(buf) {
			// After a match, the next block of the file is most likely
			// next in the seed too: it is accepted on its own checksums
			// (the match before it is its context), as zsync does. This
			// finds the odd block at the end of a run of sequential
			// matches, and the file's last block.
			nextOK := false
			if next >= 0 && next < c.blocks && !m.Have(next) && x+L <= len(buf) {
				ok, err := m.tryNext(next, buf[x:x+L], t)
				if err != nil {
					return m.got - before, err
				}
				if nextOK = ok; ok {
					valid = false // look up duplicates of it below too
				}
			}
			if !valid {
				r0 = rsum(buf[x : x+L])
				if c.SeqMatches > 1 {
					r1 = rsum(buf[x+L : x+2*L])
				}
				valid = true
			}
			if k0, k1 := r0.key(c.amask, c.bmask), r1.key(c.amask, c.bmask); m.maybe(k0, k1) {
				id, n, err := m.tryAt(k0, k1, buf[x:x+ctx], t)
				if err != nil {
					return m.got - before, err
				}
				if n > 0 {
					x += ctx
					next = id + c.SeqMatches
					valid = false
					continue
				}
			}
			if nextOK {
				x += L
				next++
				valid = false
				continue
			}
			next = -1
			if x+ctx == len(buf) {
				break // rolling on needs the next byte
			}
			r0.roll(buf[x], buf[x+L], m.shift)
			if c.SeqMatches > 1 {
				r1.roll(buf[x+L], buf[x+2*L], m.shift)
			}
			x++
		}
		if eof {
			return m.got - before, nil
		}
		// Keep the unexamined tail and read on; the rolling sums stay
		// valid for the window at x.
		n := copy(buf, buf[x:])
		buf, x = buf[:n], 0
		if err := fill(); err != nil {
			return m.got - before, err
		}
		if x+ctx > len(buf) {
			valid = false
		}
	}
}

// tryNext checks data (one block) against block id alone and writes it
// if it matches.
func (m *Matcher) tryNext(id int, data []byte, t Target) (bool, error) {
	c := m.c
	if rsum(data).key(c.amask, c.bmask) != c.rsums[id] {
		return false, nil
	}
	s := md4sum(data)
	if !bytes.Equal(s[:c.ChecksumBytes], c.strongOf(id)) {
		return false, nil
	}
	if _, err := t.WriteAt(data, int64(id)*int64(c.BlockSize)); err != nil {
		return false, fmt.Errorf("zsync: writing block %d: %w", id, err)
	}
	m.Mark(id)
	return true, nil
}

// maybe tests the hash filter: false means no block has these sums.
func (m *Matcher) maybe(k0, k1 uint32) bool {
	h := m.hash(k0, k1) & m.fmask
	return m.filter[h/64]&(1<<(h%64)) != 0
}

// tryAt confirms candidates for the data at one offset (BlockSize ×
// SeqMatches bytes) and writes the blocks that match; it returns the
// last block matched and how many blocks it wrote.
func (m *Matcher) tryAt(k0, k1 uint32, data []byte, t Target) (int, int, error) {
	c := m.c
	L := c.BlockSize
	k := m.hash(k0, k1) & m.kmask
	var s0, s1 *[md4.Size]byte
	wrote, last := 0, -1
	for j := m.start[k]; j < m.start[k]+m.live[k]; {
		id := int(m.ids[j])
		if c.rsums[id] != k0 || (c.SeqMatches > 1 && c.rsumOf(id+1) != k1) {
			j++
			continue
		}
		if s0 == nil {
			s := md4sum(data[:L])
			s0 = &s
		}
		if !bytes.Equal(s0[:c.ChecksumBytes], c.strongOf(id)) {
			j++
			continue
		}
		if c.SeqMatches > 1 {
			// The next block must match too; past the last block there
			// is nothing to match, as in zsync.
			if id+1 >= c.blocks {
				j++
				continue
			}
			if s1 == nil {
				s := md4sum(data[L : 2*L])
				s1 = &s
			}
			if !bytes.Equal(s1[:c.ChecksumBytes], c.strongOf(id+1)) {
				j++
				continue
			}
		}
		if _, err := t.WriteAt(data[:L], int64(id)*int64(L)); err != nil {
			return last, wrote, fmt.Errorf("zsync: writing block %d: %w", id, err)
		}
		m.Mark(id) // moves another id into slot j: look at j again
		wrote++
		last = id
		if c.SeqMatches > 1 && !m.Have(id+1) {
			if _, err := t.WriteAt(data[L:2*L], int64(id+1)*int64(L)); err != nil {
				return last, wrote, fmt.Errorf("zsync: writing block %d: %w", id+1, err)
			}
			m.Mark(id + 1)
			wrote++
		}
	}
	return last, wrote, nil
}
