package fatfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"sync"
)

// Special FAT entry values, normalised to FAT32 widths.
const (
	entryFree = 0
	entryBad  = 0x0FFFFFF7
	entryEOC  = 0x0FFFFFF8 // this and above: end of chain
)

// ClusterState is what the FAT says about one cluster.
type ClusterState int

// Cluster states.
const (
	Free     ClusterState = iota
	Used                  // part of a chain, followed by another cluster
	Last                  // the last cluster of a chain
	Bad                   // marked bad
	Reserved              // a reserved value (0xFFFFFF0-6 on FAT32)
)

func (s ClusterState) String() string {
	return [...]string{"free", "used", "last", "bad", "reserved"}[s]
}

// fatPage is the unit the FAT is read and cached in.
const fatPage = 64 << 10

// maxFATPages bounds the FAT cache (16 MiB); a full walk of a large
// volume rereads pages rather than holding a 256 MiB FAT.
const maxFATPages = 256

// fatTable reads FAT entries on demand through a bounded page cache.
type fatTable struct {
	r     io.ReaderAt
	off   int64 // byte offset of the FAT in use
	bytes int64 // its size
	typ   int
	mu    sync.Mutex
	pages map[int64][]byte
}

func (t *fatTable) page(p int64) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.pages[p]; ok {
		return b, nil
	}
	n := min(int64(fatPage), t.bytes-p*fatPage)
	b := make([]byte, n+2) // +2: a FAT12 entry may straddle pages
	got, err := t.r.ReadAt(b[:n], t.off+p*fatPage)
	if int64(got) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &FormatError{Structure: "FAT", Offset: t.off + p*fatPage + int64(got), Err: err}
	}
	if p*fatPage+n < t.bytes {
		// Pull the next page's first bytes for straddling FAT12 entries.
		t.r.ReadAt(b[n:], t.off+p*fatPage+n)
	}
	if len(t.pages) >= maxFATPages {
		clear(t.pages)
	}
	t.pages[p] = b
	return b, nil
}

// get returns the raw entry for cluster c, widened to FAT32 values
// (FAT12/16 end-of-chain and bad markers map to their FAT32 forms).
func (t *fatTable) get(c uint32) (uint32, error) {
	var byteOff int64
	switch t.typ {
	case 12:
		byteOff = int64(c) + int64(c)/2
	case 16:
		byteOff = int64(c) * 2
	default:
		byteOff = int64(c) * 4
	}
	b, err := t.page(byteOff / fatPage)
	if err != nil {
		return 0, err
	}
	o := byteOff % fatPage
	var v uint32
	switch t.typ {
	case 12:
		w := uint32(binary.LittleEndian.Uint16(b[o:]))
		if c&1 == 1 {
			v = w >> 4
		} else {
			v = w & 0xfff
		}
		if v >= 0xff7 {
			v |= 0x0ffff000
		}
	case 16:
		v = uint32(binary.LittleEndian.Uint16(b[o:]))
		if v >= 0xfff7 {
			v |= 0x0fff0000
		}
	default:
		v = binary.LittleEndian.Uint32(b[o:]) & 0x0FFFFFFF
	}
	return v, nil
}

// Next returns the FAT entry of cluster c: the next cluster of its chain,
// 0 when free, or a marker (see State).
func (f *FS) Next(c uint32) (uint32, error) {
	if !f.validCluster(c) {
		return 0, fmt.Errorf("%w: cluster %d outside 2..%d", ErrCorrupt, c, f.Clusters+1)
	}
	return f.fat.get(c)
}

// State classifies cluster c from its FAT entry.
func (f *FS) State(c uint32) (ClusterState, error) {
	v, err := f.Next(c)
	if err != nil {
		return Free, err
	}
	return stateOf(v), nil
}

func stateOf(v uint32) ClusterState {
	switch {
	case v == entryFree:
		return Free
	case v == entryBad:
		return Bad
	case v >= entryEOC:
		return Last
	case v >= 0x0FFFFFF0:
		return Reserved
	}
	return Used
}

// Run is a stretch of consecutive clusters of a chain.
type Run struct {
	First uint32 `json:"first"`
	Count uint32 `json:"count"`
}

// MaxRuns caps the fragments of one chain (16 MiB of runs).
const MaxRuns = 1 << 20

// Chain follows the chain from first for at most max clusters and returns
// it as runs. It stops at an end-of-chain marker or after max clusters
// (then more may follow; callers reading a file of known size ask for
// exactly its clusters). A chain that reaches a free, bad or out-of-range
// cluster is ErrCorrupt; one that comes back onto a cluster it already
// used is ErrLoop. The work is bounded by max (and by the volume's
// cluster count) whatever the FAT holds.
func (f *FS) Chain(first uint32, max int64) ([]Run, error) {
	return f.chain(first, max, nil)
}

// chain is Chain; with seen, it also stops with ErrLoop at a cluster
// already set there (read as another directory's), and sets the
// clusters it follows, so that a walk reads no cluster twice.
func (f *FS) chain(first uint32, max int64, seen *Bitmap) ([]Run, error) {
	if max <= 0 {
		return nil, nil
	}
	if !f.validCluster(first) {
		return nil, fmt.Errorf("%w: chain starts at cluster %d, outside 2..%d", ErrCorrupt, first, f.Clusters+1)
	}
	max = min(max, int64(f.Clusters))
	var runs []Run
	c := first
	for n := int64(0); ; {
		if seen != nil {
			if seen.Allocated(c) {
				return nil, fmt.Errorf("%w: the chain from cluster %d reaches cluster %d, which another directory (or this one) already holds", ErrLoop, first, c)
			}
			seen.set(c)
		}
		if k := len(runs); k > 0 && runs[k-1].First+runs[k-1].Count == c {
			runs[k-1].Count++
		} else {
			if k >= MaxRuns {
				return nil, fmt.Errorf("%w: chain from cluster %d has more than %d fragments", ErrLimit, first, MaxRuns)
			}
			runs = append(runs, Run{c, 1})
		}
		n++
		if n == max {
			break
		}
		v, err := f.fat.get(c)
		if err != nil {
			return nil, err
		}
		switch st := stateOf(v); {
		case st == Last:
			return runs, checkOverlap(runs, first)
		case st != Used:
			return nil, fmt.Errorf("%w: chain from cluster %d reaches a %s cluster after cluster %d", ErrCorrupt, first, st, c)
		case !f.validCluster(v):
			return nil, fmt.Errorf("%w: chain from cluster %d points from cluster %d to %d, outside 2..%d", ErrCorrupt, first, c, v, f.Clusters+1)
		}
		c = v
	}
	return runs, checkOverlap(runs, first)
}

// checkOverlap reports a chain that uses a cluster twice: a loop.
func checkOverlap(runs []Run, first uint32) error {
	if len(runs) < 2 {
		return nil
	}
	s := append([]Run(nil), runs...)
	sort.Slice(s, func(i, j int) bool { return s[i].First < s[j].First })
	for i := 1; i < len(s); i++ {
		if s[i].First < s[i-1].First+s[i-1].Count {
			return fmt.Errorf("%w: the cluster chain from %d uses cluster %d twice", ErrLoop, first, s[i].First)
		}
	}
	return nil
}

// newBitmap returns an all-clear bitmap of n clusters.
func newBitmap(n uint32) *Bitmap {
	return &Bitmap{bits: make([]uint64, (int64(n)+63)/64), n: n}
}

// set marks cluster c (a valid one).
func (b *Bitmap) set(c uint32) { b.bits[(c-2)/64] |= 1 << ((c - 2) % 64) }

// Allocation reads the whole FAT and returns one bit per cluster, set
// when the cluster is not free (used, last, bad or reserved). Bit i
// stands for cluster i+2.
func (f *FS) Allocation() (*Bitmap, error) {
	bm := newBitmap(f.Clusters)
	for c := uint32(2); c-2 < f.Clusters; c++ {
		v, err := f.fat.get(c)
		if err != nil {
			return nil, err
		}
		if v != entryFree {
			bm.set(c)
		}
	}
	return bm, nil
}

// Bitmap is the allocation state of every data cluster.
type Bitmap struct {
	bits []uint64
	n    uint32
}

// Allocated reports whether cluster c is in use (clusters outside the
// volume read as allocated, so that nothing is taken from beyond it).
func (b *Bitmap) Allocated(c uint32) bool {
	if c < 2 || c-2 >= b.n {
		return true
	}
	return b.bits[(c-2)/64]&(1<<((c-2)%64)) != 0
}

// Free counts the free clusters.
func (b *Bitmap) Free() int64 {
	var used int64
	for _, w := range b.bits {
		for ; w != 0; w &= w - 1 {
			used++
		}
	}
	return int64(b.n) - used
}

// FreeRuns lists the runs of free clusters in cluster order, at most max
// of them; complete is false when there are more. It steps over 64
// clusters at a time, so its cost follows the bitmap's size (one bit a
// cluster) and the runs it returns, whatever the FAT holds.
func (b *Bitmap) FreeRuns(max int) (runs []Run, complete bool) {
	for w, word := range b.bits {
		free := ^word
		if rest := int64(b.n) - int64(w)*64; rest < 64 {
			free &= 1<<rest - 1 // the bits past the last cluster are no clusters
		}
		for free != 0 {
			tz := bits.TrailingZeros64(free)
			n := min(bits.TrailingZeros64(^(free >> tz)), 64-tz)
			first := uint32(w*64+tz) + 2
			if k := len(runs); k > 0 && runs[k-1].First+runs[k-1].Count == first {
				runs[k-1].Count += uint32(n)
			} else if k < max {
				runs = append(runs, Run{first, uint32(n)})
			} else {
				return runs, false
			}
			if n == 64 {
				break
			}
			free &^= (1<<n - 1) << tz
		}
	}
	return runs, true
}
