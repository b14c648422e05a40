package isotest

import (
	"encoding/binary"
	"fmt"
)

// Builder assembles small ISO 9660 images byte by byte, so tests can make
// exactly the (often hostile) structures real mastering tools refuse to
// write: directory cycles, Rock Ridge loops, sizes past the end, odd
// block sizes. Addresses are in logical blocks of BlockSize bytes.
type Builder struct {
	BlockSize int
	blocks    map[uint32][]byte
	next      uint32
}

// Record is one directory record to write.
type Record struct {
	Name      string // raw identifier, e.g. "FILE.TXT;1"
	LBA       uint32
	Size      uint32
	Dir       bool
	Flags     byte   // extra file flags (0x80 multi-extent, 0x01 hidden)
	SystemUse []byte // SUSP entries
}

// NewBuilder returns a builder for the given logical block size.
func NewBuilder(blockSize int) *Builder {
	// Descriptors occupy bytes 32768..36863 whatever the block size.
	first := uint32(36864 / blockSize)
	return &Builder{BlockSize: blockSize, blocks: map[uint32][]byte{}, next: first}
}

// Alloc reserves n blocks and returns the first.
func (b *Builder) Alloc(n int) uint32 {
	lba := b.next
	b.next += uint32(n)
	return lba
}

// Write stores data at block lba (spilling into following blocks).
func (b *Builder) Write(lba uint32, data []byte) {
	for len(data) > 0 {
		blk := make([]byte, b.BlockSize)
		n := copy(blk, data)
		b.blocks[lba] = blk
		data = data[n:]
		lba++
	}
	if lba > b.next {
		b.next = lba
	}
}

// DirRecord encodes one directory record.
func DirRecord(r Record) []byte {
	id := []byte(r.Name)
	switch r.Name {
	case ".":
		id = []byte{0}
	case "..":
		id = []byte{1}
	}
	n := 33 + len(id)
	if len(id)%2 == 0 {
		n++
	}
	n += len(r.SystemUse)
	if n%2 == 1 {
		n++
	}
	if n > 255 {
		panic(fmt.Sprintf("isotest: record for %q is %d bytes", r.Name, n))
	}
	rec := make([]byte, n)
	rec[0] = byte(n)
	putBoth32(rec[2:], r.LBA)
	putBoth32(rec[10:], r.Size)
	copy(rec[18:25], []byte{124, 3, 9, 14, 15, 16, 0}) // 2024-03-09 14:15:16 UTC
	rec[25] = r.Flags
	if r.Dir {
		rec[25] |= 0x02
	}
	putBoth16(rec[28:], 1)
	rec[32] = byte(len(id))
	copy(rec[33:], id)
	su := 33 + len(id)
	if len(id)%2 == 0 {
		su++
	}
	copy(rec[su:], r.SystemUse)
	return rec
}

// WriteDir writes a directory at lba holding ".", ".." and recs, packing
// records into 2048-byte sectors as the standard requires; it returns the
// directory size in bytes. size, if non-zero, is what "." claims instead.
func (b *Builder) WriteDir(lba, parent uint32, parentSize uint32, recs []Record, dotSU []byte) uint32 {
	var sectors [][]byte
	cur := []byte{}
	add := func(r []byte) {
		if len(cur)+len(r) > 2048 {
			sectors = append(sectors, cur)
			cur = []byte{}
		}
		cur = append(cur, r...)
	}
	// "." needs the final size: compute with a placeholder, then patch.
	dot := DirRecord(Record{Name: ".", LBA: lba, Dir: true, SystemUse: dotSU})
	add(dot)
	add(DirRecord(Record{Name: "..", LBA: parent, Size: parentSize, Dir: true}))
	for _, r := range recs {
		add(DirRecord(r))
	}
	sectors = append(sectors, cur)
	size := uint32(len(sectors) * 2048)
	putBoth32(sectors[0][10:], size)
	var data []byte
	for _, s := range sectors {
		sec := make([]byte, 2048)
		copy(sec, s)
		data = append(data, sec...)
	}
	b.Write(lba, data)
	return size
}

// Image returns the image bytes: a primary descriptor whose root is the
// directory at rootLBA (rootSize bytes), a terminator, and every block.
// volumeBlocks, if non-zero, is written as the volume size.
func (b *Builder) Image(rootLBA, rootSize uint32, volumeBlocks uint32) []byte {
	end := b.next
	size := int(end) * b.BlockSize
	if size < 36864 {
		size = 36864
	}
	img := make([]byte, size)
	pvd := img[32768:34816]
	pvd[0] = 1
	copy(pvd[1:6], "CD001")
	pvd[6] = 1
	copy(pvd[8:40], pad("ISOTEST", 32))
	copy(pvd[40:72], pad("ISOTEST_VOLUME", 32))
	if volumeBlocks == 0 {
		volumeBlocks = end
	}
	putBoth32(pvd[80:], volumeBlocks)
	putBoth16(pvd[120:], 1)
	putBoth16(pvd[124:], 1)
	putBoth16(pvd[128:], uint16(b.BlockSize))
	root := DirRecord(Record{Name: ".", LBA: rootLBA, Size: rootSize, Dir: true})
	copy(pvd[156:190], root[:34])
	pvd[881] = 1
	term := img[34816:36864]
	term[0] = 255
	copy(term[1:6], "CD001")
	term[6] = 1
	for lba, blk := range b.blocks {
		copy(img[int(lba)*b.BlockSize:], blk)
	}
	return img
}

func pad(s string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
	return b
}

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:4], v)
	binary.BigEndian.PutUint32(b[4:8], v)
}

func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b[0:2], v)
	binary.BigEndian.PutUint16(b[2:4], v)
}

// SUSP entry builders for Rock Ridge tests.

// SP is the SUSP indicator for the root "." record.
func SP() []byte { return []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0} }

// PX encodes POSIX attributes (mode, nlink, uid, gid).
func PX(mode, nlink, uid, gid uint32) []byte {
	e := make([]byte, 36)
	copy(e, "PX")
	e[2], e[3] = 36, 1
	putBoth32(e[4:], mode)
	putBoth32(e[12:], nlink)
	putBoth32(e[20:], uid)
	putBoth32(e[28:], gid)
	return e
}

// NM encodes an alternate name.
func NM(name string) []byte {
	return append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
}

// CL encodes a child link to the directory at lba.
func CL(lba uint32) []byte {
	e := make([]byte, 12)
	copy(e, "CL")
	e[2], e[3] = 12, 1
	putBoth32(e[4:], lba)
	return e
}

// CE encodes a continuation area pointer.
func CE(lba, off, length uint32) []byte {
	e := make([]byte, 28)
	copy(e, "CE")
	e[2], e[3] = 28, 1
	putBoth32(e[4:], lba)
	putBoth32(e[12:], off)
	putBoth32(e[20:], length)
	return e
}
