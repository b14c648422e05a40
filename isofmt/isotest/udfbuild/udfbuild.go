// Package udfbuild writes small UDF images for tests (the udf package's,
// and the mount tests').
// The kernel here has no UDF module and mkudffs only formats empty
// volumes, so tests need their own writer to get populated UDF 2.x images
// with metadata partitions, extended file entries, embedded data, many
// extents, hard links, symlinks and sparse files. It is test-only code: it
// favours clarity over compactness and every image it produces is checked
// with 7-Zip (an independent reader) before a test trusts it.
package udfbuild

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
)

// Entry is one file, directory, symlink or hard link to write.
type Entry struct {
	Path string // slash-separated, relative to the root
	Dir  bool
	// Data is the content of a regular file.
	Data []byte
	// Size and Chunks describe a sparse file instead of Data: Chunks are
	// the recorded pieces (block-aligned offsets, ascending), the rest of
	// Size is written as not-allocated extents.
	Size   int64
	Chunks []Chunk
	// Symlink is the target of a symbolic link.
	Symlink string
	// Link makes this entry a hard link to the earlier entry at that path.
	Link string
	// Perm holds the permission bits and setuid/setgid/sticky.
	Perm     fs.FileMode
	UID, GID uint32
	MTime    time.Time
	Hidden   bool
	// Embed stores the data inside the file entry (it must fit).
	Embed bool
	// ExtentBlocks splits the data into extents of that many blocks.
	ExtentBlocks int
	// Special makes a device or FIFO/socket: the ICB file type (6 block
	// device, 7 character device, 9 FIFO, 10 socket). Devices get a device
	// specification extended attribute with Major and Minor.
	Special      uint8
	Major, Minor uint32
}

// Chunk is one recorded piece of a sparse file.
type Chunk struct {
	Off  int64
	Data []byte
}

// Options selects the volume layout.
type Options struct {
	Revision  uint16 // 0x0102 … 0x0260
	BlockSize int    // 512 … 4096
	// Metadata puts file entries and directories in a UDF 2.50 metadata partition (with a mirror).
	Metadata bool
	// EFE writes extended file entries.
	EFE bool
	// PartitionNumber is the partition descriptor's number (Windows writes 8192).
	PartitionNumber uint16
	// RefAsNumber writes the partition number instead of the map index as
	// the partition reference of long allocation descriptors, as some
	// writers do (not conforming).
	RefAsNumber bool
	// LongAD uses long allocation descriptors for file data.
	LongAD bool
	// ExtAD uses extended allocation descriptors (ECMA-167 4/14.14.3) for file data.
	ExtAD    bool
	VolumeID string
	// TZ is the time zone offset written in timestamps, in minutes.
	TZ int
}

type node struct {
	e        Entry
	name     string
	parent   *node
	kids     []*node
	target   *node // hard link target
	fidCount int
	lbn      uint32 // ICB location (metadata space)
	isDir    bool
	uniq     uint64
}

// space is one partition's blocks as they are being written.
type space struct {
	bs     int
	blocks [][]byte
}

func (s *space) alloc(n int) uint32 {
	first := uint32(len(s.blocks))
	for i := 0; i < n; i++ {
		s.blocks = append(s.blocks, make([]byte, s.bs))
	}
	return first
}

func (s *space) write(lbn uint32, b []byte) {
	for i := 0; len(b) > 0; i++ {
		n := copy(s.blocks[int(lbn)+i], b)
		b = b[n:]
	}
}

type builder struct {
	o        Options
	bs       int
	phys     *space
	meta     *space // == phys without a metadata partition
	metaRef  uint16 // partition reference of the metadata space
	physRef  uint16
	nextUniq uint64
	now      time.Time
}

// DefaultMTime is the time of entries without an MTime and of the
// directories Build makes implicitly: its wall-clock time in Options.TZ
// (so this very instant when TZ is 0).
var DefaultMTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Build returns the image bytes.
func Build(o Options, entries []Entry) ([]byte, error) {
	if o.BlockSize == 0 {
		o.BlockSize = 2048
	}
	if o.Revision == 0 {
		o.Revision = 0x0201
	}
	if o.VolumeID == "" {
		o.VolumeID = "UDFBUILD"
	}
	if o.Metadata && o.Revision < 0x0250 {
		return nil, errors.New("udfbuild: metadata partition needs revision 2.50+")
	}
	b := &builder{o: o, bs: o.BlockSize, phys: &space{bs: o.BlockSize}, nextUniq: 16,
		now: time.Date(DefaultMTime.Year(), DefaultMTime.Month(), DefaultMTime.Day(), DefaultMTime.Hour(),
			DefaultMTime.Minute(), DefaultMTime.Second(), 0, time.FixedZone("", o.TZ*60))}
	b.meta = b.phys
	if o.Metadata {
		b.meta = &space{bs: o.BlockSize}
		b.metaRef = 1
		b.phys.alloc(2) // metadata file and mirror file entries, written last
	}
	if o.RefAsNumber {
		b.physRef = o.PartitionNumber
		if !o.Metadata {
			b.metaRef = o.PartitionNumber
		}
	}
	root, err := b.tree(entries)
	if err != nil {
		return nil, err
	}
	// File set descriptor and its terminator come first in the metadata space.
	fsdLBN := b.meta.alloc(2)
	b.allocICBs(root)
	root.fidCount = 1 // the root's own parent entry names it
	countFIDs(root)
	if err := b.writeNode(root); err != nil {
		return nil, err
	}
	b.writeFSD(fsdLBN, root)
	b.meta.write(fsdLBN+1, b.desc(8, fsdLBN+1, make([]byte, 512)))
	if o.Metadata {
		n := len(b.meta.blocks)
		main := b.phys.alloc(n)
		mirror := b.phys.alloc(n)
		for i, blk := range b.meta.blocks {
			b.phys.write(main+uint32(i), blk)
			b.phys.write(mirror+uint32(i), blk)
		}
		for i, loc := range []uint32{main, mirror} {
			ad := make([]byte, 8)
			binary.LittleEndian.PutUint32(ad, uint32(n*b.bs))
			binary.LittleEndian.PutUint32(ad[4:], loc)
			fe := b.fileEntry(uint32(i), &node{uniq: 0}, 250+uint8(i), uint64(n*b.bs), 0, ad, 1, uint64(n))
			b.phys.write(uint32(i), fe)
		}
	}
	return b.volume(), nil
}

func (b *builder) tree(entries []Entry) (*node, error) {
	root := &node{name: "", isDir: true, e: Entry{Dir: true, Perm: 0755, MTime: b.now}}
	byPath := map[string]*node{"": root}
	var mkdir func(p string) *node
	mkdir = func(p string) *node {
		if n, ok := byPath[p]; ok {
			return n
		}
		par := mkdir(parentOf(p))
		n := &node{name: path.Base(p), parent: par, isDir: true, e: Entry{Path: p, Dir: true, Perm: 0755, MTime: b.now}}
		par.kids = append(par.kids, n)
		byPath[p] = n
		return n
	}
	for _, e := range entries {
		p := strings.Trim(e.Path, "/")
		if p == "" {
			return nil, errors.New("udfbuild: empty path")
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("udfbuild: duplicate path %q", p)
		}
		par := mkdir(parentOf(p))
		if e.MTime.IsZero() {
			e.MTime = b.now
		}
		n := &node{e: e, name: path.Base(p), parent: par, isDir: e.Dir}
		if e.Link != "" {
			t, ok := byPath[strings.Trim(e.Link, "/")]
			if !ok || t.isDir {
				return nil, fmt.Errorf("udfbuild: hard link %q to unknown or directory %q", p, e.Link)
			}
			n.target = t
		}
		par.kids = append(par.kids, n)
		byPath[p] = n
	}
	return root, nil
}

func parentOf(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

func (b *builder) allocICBs(n *node) {
	if n.target == nil {
		n.lbn = b.meta.alloc(1)
		if n.parent == nil {
			n.uniq = 0
		} else {
			n.uniq = b.nextUniq
			b.nextUniq++
		}
	}
	for _, k := range n.kids {
		b.allocICBs(k)
	}
}

// countFIDs sets every ICB's link count: the FIDs naming it, including
// the parent entries of a directory's subdirectories.
func countFIDs(n *node) {
	for _, k := range n.kids {
		k.icb().fidCount++
		if k.isDir {
			n.fidCount++
		}
		countFIDs(k)
	}
}

func (n *node) icb() *node {
	if n.target != nil {
		return n.target
	}
	return n
}

// writeNode writes n's data and file entry, children first so hard link counts are complete.
func (b *builder) writeNode(n *node) error {
	for _, k := range n.kids {
		if err := b.writeNode(k); err != nil {
			return err
		}
	}
	if n.target != nil {
		return nil
	}
	switch {
	case n.isDir:
		return b.writeDir(n)
	case n.e.Symlink != "":
		return b.writeData(n, 12, symlinkData(n.e.Symlink), 0, nil)
	case n.e.Special != 0:
		return b.writeFE(n, n.e.Special, 0, nil, 0, nil, 0)
	default:
		// Hard links are written once all FIDs naming the file are counted.
		size := int64(len(n.e.Data))
		if n.e.Chunks != nil {
			size = n.e.Size
		}
		return b.writeData(n, 5, n.e.Data, size, n.e.Chunks)
	}
}

func symlinkData(t string) []byte {
	var out []byte
	if strings.HasPrefix(t, "/") {
		out = append(out, 2, 0, 0, 0)
	}
	for _, c := range strings.Split(strings.Trim(t, "/"), "/") {
		switch c {
		case "":
		case ".":
			out = append(out, 4, 0, 0, 0)
		case "..":
			out = append(out, 3, 0, 0, 0)
		default:
			id := cs0(c)
			out = append(out, 5, byte(len(id)), 0, 0)
			out = append(out, id...)
		}
	}
	return out
}

// cs0 encodes OSTA compressed Unicode, 8-bit when every character allows it.
func cs0(s string) []byte {
	wide := false
	for _, r := range s {
		if r > 0xFF {
			wide = true
		}
	}
	if !wide {
		out := []byte{8}
		for _, r := range s {
			out = append(out, byte(r))
		}
		return out
	}
	out := []byte{16}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

func (b *builder) writeDir(n *node) error {
	var data []byte
	fid := func(ch byte, name string, t *node) []byte {
		var id []byte
		if name != "" {
			id = cs0(name)
		}
		l := (38 + len(id) + 3) &^ 3
		f := make([]byte, l)
		binary.LittleEndian.PutUint16(f[16:], 1)
		f[18] = ch
		f[19] = byte(len(id))
		b.putLongAD(f[20:], uint32(b.bs), t.lbn, b.metaRef)
		binary.LittleEndian.PutUint32(f[20+12:], uint32(t.uniq))
		copy(f[38:], id)
		return f
	}
	par := n.parent
	if par == nil {
		par = n
	}
	data = append(data, fid(0x0A, "", par)...)
	var fids [][]byte
	for _, k := range n.kids {
		var ch byte
		if k.isDir {
			ch |= 2
		}
		if k.e.Hidden {
			ch |= 1
		}
		fids = append(fids, fid(ch, k.name, k.icb()))
	}
	offsets := []int{0}
	for _, f := range fids {
		offsets = append(offsets, len(data))
		data = append(data, f...)
	}
	// FIDs carry their own location, so place the stream before tagging.
	hdr := 176
	if b.o.EFE {
		hdr = 216
	}
	var loc uint32
	embedded := len(data) <= b.bs-hdr
	if !embedded {
		loc = b.meta.alloc((len(data) + b.bs - 1) / b.bs)
	}
	for _, off := range offsets {
		fl := len(fidAt(data, off))
		where := loc + uint32(off/b.bs)
		if embedded {
			where = n.lbn
		}
		tagged := b.desc(257, where, data[off:off+fl])
		copy(data[off:], tagged)
	}
	if embedded {
		return b.writeFE(n, 4, uint64(len(data)), nil, 3, data, 0)
	}
	b.meta.write(loc, data)
	ad := make([]byte, 8)
	binary.LittleEndian.PutUint32(ad, uint32(len(data)))
	binary.LittleEndian.PutUint32(ad[4:], loc)
	return b.writeFE(n, 4, uint64(len(data)), ad, 0, nil, uint64((len(data)+b.bs-1)/b.bs))
}

func fidAt(data []byte, off int) []byte {
	lfi := int(data[off+19])
	liu := int(binary.LittleEndian.Uint16(data[off+36:]))
	return data[off : off+((38+lfi+liu+3)&^3)]
}

type ext struct {
	length int64
	lbn    uint32
	typ    uint32 // 0 recorded, 2 not allocated
}

// maxExtent is the largest extent a descriptor can hold, rounded down to whole blocks.
func (b *builder) maxExtent() int64 { return int64((1<<30 - 1) &^ (b.bs - 1)) }

func (b *builder) writeData(n *node, ftype uint8, data []byte, size int64, chunks []Chunk) error {
	if chunks == nil {
		size = int64(len(data))
	}
	hdr := 176
	if b.o.EFE {
		hdr = 216
	}
	if n.e.Embed || (ftype == 12 && len(data) <= b.bs-hdr) {
		if len(data) > b.bs-hdr {
			return fmt.Errorf("udfbuild: %q does not fit in its file entry", n.e.Path)
		}
		return b.writeFE(n, ftype, uint64(len(data)), nil, 3, data, 0)
	}
	var exts []ext
	var recorded uint64
	per := b.maxExtent()
	if n.e.ExtentBlocks > 0 {
		per = int64(n.e.ExtentBlocks * b.bs)
	}
	record := func(d []byte) {
		for len(d) > 0 {
			c := min(int64(len(d)), per)
			nb := int((c + int64(b.bs) - 1) / int64(b.bs))
			lbn := b.phys.alloc(nb)
			b.phys.write(lbn, d[:c])
			recorded += uint64(nb)
			exts = append(exts, ext{length: c, lbn: lbn})
			d = d[c:]
			// A gap between data extents makes each one a separate run on the image.
			if n.e.ExtentBlocks > 0 {
				b.phys.alloc(1)
			}
		}
	}
	hole := func(l int64) {
		for l > 0 {
			c := min(l, b.maxExtent())
			exts = append(exts, ext{length: c, typ: 2})
			l -= c
		}
	}
	if chunks == nil {
		record(data)
	} else {
		var at int64
		for _, c := range chunks {
			if c.Off%int64(b.bs) != 0 || c.Off < at {
				return fmt.Errorf("udfbuild: %q: chunk at %d not block-aligned or overlapping", n.e.Path, c.Off)
			}
			hole(c.Off - at)
			d := c.Data
			if c.Off+int64(len(d)) < size && len(d)%b.bs != 0 {
				d = append(d[:len(d):len(d)], make([]byte, b.bs-len(d)%b.bs)...)
			}
			record(d)
			at = c.Off + int64(len(d))
		}
		hole(size - at)
	}
	long := b.o.LongAD || b.o.Metadata
	adSize := 8
	if long {
		adSize = 16
	}
	if b.o.ExtAD {
		adSize = 20
	}
	enc := func(e ext) []byte {
		ad := make([]byte, adSize)
		binary.LittleEndian.PutUint32(ad, uint32(e.length)|e.typ<<30)
		if adSize == 20 {
			if e.typ == 0 {
				binary.LittleEndian.PutUint32(ad[4:], uint32(e.length))
			}
			binary.LittleEndian.PutUint32(ad[8:], uint32(e.length))
			binary.LittleEndian.PutUint32(ad[12:], e.lbn)
			binary.LittleEndian.PutUint16(ad[16:], b.physRef)
		} else if long {
			b.putLongAD(ad, uint32(e.length)|e.typ<<30, e.lbn, b.physRef)
		} else {
			binary.LittleEndian.PutUint32(ad[4:], e.lbn)
		}
		return ad
	}
	// Descriptors that do not fit in the file entry go to a chain of
	// allocation extent descriptors in the ICB's partition.
	room := (b.bs-hdr)/adSize - 1
	aedRoom := (b.bs-24)/adSize - 1
	var first []byte
	i := 0
	for ; i < len(exts) && (i < room || len(exts) == room+1 && i == room); i++ {
		first = append(first, enc(exts[i])...)
	}
	if i < len(exts) {
		lbn := b.meta.alloc(1)
		first = append(first, b.contAD(adSize, lbn)...)
		prev := uint32(0)
		for i < len(exts) {
			var body []byte
			j := 0
			for ; i < len(exts) && (j < aedRoom || len(exts)-i == 1); i, j = i+1, j+1 {
				body = append(body, enc(exts[i])...)
			}
			var next uint32
			if i < len(exts) {
				next = b.meta.alloc(1)
				body = append(body, b.contAD(adSize, next)...)
			}
			aed := make([]byte, 24+len(body))
			binary.LittleEndian.PutUint32(aed[16:], prev)
			binary.LittleEndian.PutUint32(aed[20:], uint32(len(body)))
			copy(aed[24:], body)
			b.meta.write(lbn, b.desc(258, lbn, aed))
			prev, lbn = lbn, next
		}
	}
	adType := 0
	if long {
		adType = 1
	}
	if adSize == 20 {
		adType = 2
	}
	return b.writeFE(n, ftype, uint64(size), first, adType, nil, recorded)
}

func (b *builder) contAD(adSize int, lbn uint32) []byte {
	ad := make([]byte, adSize)
	if adSize == 20 {
		binary.LittleEndian.PutUint32(ad, uint32(b.bs)|3<<30)
		binary.LittleEndian.PutUint32(ad[12:], lbn)
		binary.LittleEndian.PutUint16(ad[16:], b.metaRef)
	} else if adSize == 16 {
		b.putLongAD(ad, uint32(b.bs)|3<<30, lbn, b.metaRef)
	} else {
		binary.LittleEndian.PutUint32(ad, uint32(b.bs)|3<<30)
		binary.LittleEndian.PutUint32(ad[4:], lbn)
	}
	return ad
}

func (b *builder) putLongAD(d []byte, length, lbn uint32, ref uint16) {
	binary.LittleEndian.PutUint32(d, length)
	binary.LittleEndian.PutUint32(d[4:], lbn)
	binary.LittleEndian.PutUint16(d[8:], ref)
}

func (b *builder) writeFE(n *node, ftype uint8, size uint64, ads []byte, adType int, embedded []byte, recorded uint64) error {
	area := ads
	if adType == 3 {
		area = embedded
	}
	fe := b.fileEntry(n.lbn, n, ftype, size, adType, area, uint16(n.fidCount), recorded)
	if len(fe) > b.bs {
		return fmt.Errorf("udfbuild: file entry of %q too large", n.e.Path)
	}
	b.meta.write(n.lbn, fe)
	return nil
}

// fileEntry encodes a FE or EFE for n, tagged for block lbn of its partition.
func (b *builder) fileEntry(lbn uint32, n *node, ftype uint8, size uint64, adType int, area []byte, links uint16, recorded uint64) []byte {
	hdr := 176
	id := uint16(261)
	if b.o.EFE {
		hdr, id = 216, 266
	}
	ea := b.deviceEA(lbn, n)
	fe := make([]byte, hdr+len(ea)+len(area))
	copy(fe[hdr:], ea)
	// ICB tag: strategy 4, one entry.
	binary.LittleEndian.PutUint16(fe[20:], 4)
	binary.LittleEndian.PutUint16(fe[24:], 1)
	fe[27] = ftype
	flags := uint16(adType)
	if n.e.Perm&fs.ModeSetuid != 0 {
		flags |= 0x40
	}
	if n.e.Perm&fs.ModeSetgid != 0 {
		flags |= 0x80
	}
	if n.e.Perm&fs.ModeSticky != 0 {
		flags |= 0x100
	}
	binary.LittleEndian.PutUint16(fe[34:], flags)
	binary.LittleEndian.PutUint32(fe[36:], n.e.UID)
	binary.LittleEndian.PutUint32(fe[40:], n.e.GID)
	binary.LittleEndian.PutUint32(fe[44:], perm(n.e.Perm))
	if links == 0 {
		links = 1
	}
	binary.LittleEndian.PutUint16(fe[48:], links)
	binary.LittleEndian.PutUint64(fe[56:], size)
	mt := n.e.MTime
	if mt.IsZero() {
		mt = b.now
	}
	at := mt.Add(time.Hour)
	ct := mt.Add(2 * time.Hour)
	bt := mt.Add(-time.Hour)
	regid(fe[hdr-48:hdr-16], "*isofsd udfbuild", nil)
	if b.o.EFE {
		binary.LittleEndian.PutUint64(fe[64:], size)
		binary.LittleEndian.PutUint64(fe[72:], recorded)
		b.ts(fe[80:], at)
		b.ts(fe[92:], mt)
		b.ts(fe[104:], bt)
		b.ts(fe[116:], ct)
		binary.LittleEndian.PutUint32(fe[128:], 1)
		binary.LittleEndian.PutUint64(fe[200:], n.uniq)
		binary.LittleEndian.PutUint32(fe[208:], uint32(len(ea)))
		binary.LittleEndian.PutUint32(fe[212:], uint32(len(area)))
	} else {
		binary.LittleEndian.PutUint64(fe[64:], recorded)
		b.ts(fe[72:], at)
		b.ts(fe[84:], mt)
		b.ts(fe[96:], ct)
		binary.LittleEndian.PutUint32(fe[108:], 1)
		binary.LittleEndian.PutUint64(fe[160:], n.uniq)
		binary.LittleEndian.PutUint32(fe[168:], uint32(len(ea)))
		binary.LittleEndian.PutUint32(fe[172:], uint32(len(area)))
	}
	copy(fe[hdr+len(ea):], area)
	return b.desc(id, lbn, fe)
}

// deviceEA returns the extended attribute space of a device file: the
// header descriptor and a device specification (ECMA-167 4/14.10.7).
func (b *builder) deviceEA(lbn uint32, n *node) []byte {
	if n.e.Special != 6 && n.e.Special != 7 {
		return nil
	}
	ea := make([]byte, 48)
	binary.LittleEndian.PutUint32(ea[16:], 48) // implementation attributes start after ours
	binary.LittleEndian.PutUint32(ea[20:], 48)
	b.desc(262, lbn, ea[:24])
	binary.LittleEndian.PutUint32(ea[24:], 12)
	ea[28] = 1
	binary.LittleEndian.PutUint32(ea[32:], 24)
	binary.LittleEndian.PutUint32(ea[40:], n.e.Major)
	binary.LittleEndian.PutUint32(ea[44:], n.e.Minor)
	return ea
}

// perm maps POSIX permission bits to UDF's five-bits-per-class layout,
// granting the owner attribute change and delete rights.
func perm(m fs.FileMode) uint32 {
	var p uint32
	for i, shift := range []uint{10, 5, 0} {
		bits := uint32(m.Perm()>>uint(6-3*i)) & 7
		p |= bits << shift
	}
	return p | 0x18<<10
}

func (b *builder) ts(d []byte, t time.Time) {
	t = t.In(time.FixedZone("", b.o.TZ*60))
	binary.LittleEndian.PutUint16(d, 1<<12|uint16(b.o.TZ)&0xFFF)
	binary.LittleEndian.PutUint16(d[2:], uint16(t.Year()))
	d[4], d[5], d[6], d[7], d[8] = byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	us := t.Nanosecond() / 1000
	d[9], d[10], d[11] = byte(us/10000), byte(us/100%100), byte(us%100)
}

func regid(d []byte, ident string, suffix []byte) {
	copy(d[1:24], ident)
	copy(d[24:32], suffix)
}

func (b *builder) udfSuffix() []byte {
	s := make([]byte, 8)
	binary.LittleEndian.PutUint16(s, b.o.Revision)
	return s
}

// desc fills in the tag of descriptor d (identifier, version, CRC over
// the whole descriptor, checksum, location) and returns it.
func (b *builder) desc(id uint16, loc uint32, d []byte) []byte {
	ver := uint16(2)
	if b.o.Revision >= 0x0200 {
		ver = 3
	}
	binary.LittleEndian.PutUint16(d, id)
	binary.LittleEndian.PutUint16(d[2:], ver)
	binary.LittleEndian.PutUint16(d[10:], uint16(len(d)-16))
	binary.LittleEndian.PutUint16(d[8:], crc16(d[16:]))
	binary.LittleEndian.PutUint32(d[12:], loc)
	var s uint8
	for i := 0; i < 16; i++ {
		if i != 4 {
			s += d[i]
		}
	}
	d[4] = s
	return d
}

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x) << 8
		for i := 0; i < 8; i++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func dstr(d []byte, s string) {
	e := cs0(s)
	if len(e) > len(d)-1 {
		e = e[:len(d)-1]
	}
	copy(d, e)
	d[len(d)-1] = byte(len(e))
}

func charspec(d []byte) {
	copy(d[1:], "OSTA Compressed Unicode")
}

func (b *builder) writeFSD(lbn uint32, root *node) {
	d := make([]byte, 512)
	b.ts(d[16:], b.now)
	binary.LittleEndian.PutUint16(d[28:], 3)
	binary.LittleEndian.PutUint16(d[30:], 3)
	binary.LittleEndian.PutUint32(d[32:], 1)
	binary.LittleEndian.PutUint32(d[36:], 1)
	charspec(d[48:])
	dstr(d[112:240], b.o.VolumeID)
	charspec(d[240:])
	dstr(d[304:336], b.o.VolumeID)
	b.putLongAD(d[400:], uint32(b.bs), root.lbn, b.metaRef)
	regid(d[416:448], "*OSTA UDF Compliant", b.udfSuffix())
	b.meta.write(lbn, b.desc(256, lbn, d))
}

// volume lays out the whole image: system area, recognition sequence,
// anchors, both descriptor sequences, integrity sequence, the partition.
func (b *builder) volume() []byte {
	bs := b.bs
	const partStart = 320
	partLen := len(b.phys.blocks)
	total := partStart + partLen + 1
	if total < 512 {
		total = 512 // room for the anchor at 256 and a last one at N-1
	}
	img := make([]byte, total*bs)
	step := 2048
	if bs > 2048 {
		step = bs
	}
	nsr := "NSR02"
	if b.o.Revision >= 0x0200 {
		nsr = "NSR03"
	}
	for i, id := range []string{"BEA01", nsr, "TEA01"} {
		o := 32768 + i*step
		img[o] = 0
		copy(img[o+1:], id)
		img[o+6] = 1
	}
	put := func(sec int, d []byte) { copy(img[sec*bs:], d) }
	pn := b.o.PartitionNumber
	vds := func(start int) {
		sec := start
		pvd := make([]byte, 512)
		binary.LittleEndian.PutUint32(pvd[16:], 1)
		dstr(pvd[24:56], b.o.VolumeID)
		binary.LittleEndian.PutUint16(pvd[56:], 1)
		binary.LittleEndian.PutUint16(pvd[58:], 1)
		binary.LittleEndian.PutUint16(pvd[60:], 2)
		binary.LittleEndian.PutUint16(pvd[62:], 3)
		binary.LittleEndian.PutUint32(pvd[64:], 1)
		binary.LittleEndian.PutUint32(pvd[68:], 1)
		dstr(pvd[72:200], "0123456789abcdef"+b.o.VolumeID)
		charspec(pvd[200:])
		charspec(pvd[264:])
		b.ts(pvd[376:], b.now)
		regid(pvd[388:420], "*isofsd udfbuild", nil)
		put(sec, b.desc(1, uint32(sec), pvd))
		sec++
		iu := make([]byte, 512)
		binary.LittleEndian.PutUint32(iu[16:], 2)
		regid(iu[20:52], "*UDF LV Info", b.udfSuffix())
		charspec(iu[52:])
		dstr(iu[116:244], b.o.VolumeID)
		regid(iu[352:384], "*isofsd udfbuild", nil)
		put(sec, b.desc(4, uint32(sec), iu))
		sec++
		pd := make([]byte, 512)
		binary.LittleEndian.PutUint32(pd[16:], 3)
		binary.LittleEndian.PutUint16(pd[20:], 1)
		binary.LittleEndian.PutUint16(pd[22:], pn)
		regid(pd[24:56], "+"+nsr, nil)
		binary.LittleEndian.PutUint32(pd[184:], 1) // read-only
		binary.LittleEndian.PutUint32(pd[188:], partStart)
		binary.LittleEndian.PutUint32(pd[192:], uint32(partLen))
		regid(pd[196:228], "*isofsd udfbuild", nil)
		put(sec, b.desc(5, uint32(sec), pd))
		sec++
		maps := []byte{1, 6, 1, 0, byte(pn), byte(pn >> 8)}
		if b.o.Metadata {
			m := make([]byte, 64)
			m[0], m[1] = 2, 64
			regid(m[4:36], "*UDF Metadata Partition", b.udfSuffix())
			binary.LittleEndian.PutUint16(m[36:], 1)
			binary.LittleEndian.PutUint16(m[38:], pn)
			binary.LittleEndian.PutUint32(m[40:], 0)
			binary.LittleEndian.PutUint32(m[44:], 1)
			binary.LittleEndian.PutUint32(m[48:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint32(m[52:], 32)
			binary.LittleEndian.PutUint16(m[56:], 1)
			maps = append(maps, m...)
		}
		lvd := make([]byte, 440+len(maps))
		binary.LittleEndian.PutUint32(lvd[16:], 4)
		charspec(lvd[20:])
		dstr(lvd[84:212], b.o.VolumeID)
		binary.LittleEndian.PutUint32(lvd[212:], uint32(bs))
		regid(lvd[216:248], "*OSTA UDF Compliant", b.udfSuffix())
		b.putLongAD(lvd[248:], uint32(2*bs), 0, b.metaRef)
		binary.LittleEndian.PutUint32(lvd[264:], uint32(len(maps)))
		binary.LittleEndian.PutUint32(lvd[268:], uint32(1+boolInt(b.o.Metadata)))
		regid(lvd[272:304], "*isofsd udfbuild", nil)
		binary.LittleEndian.PutUint32(lvd[432:], uint32(2*bs))
		binary.LittleEndian.PutUint32(lvd[436:], 300)
		copy(lvd[440:], maps)
		put(sec, b.desc(6, uint32(sec), lvd))
		sec += (len(lvd) + bs - 1) / bs
		usd := make([]byte, 24)
		binary.LittleEndian.PutUint32(usd[16:], 5)
		put(sec, b.desc(7, uint32(sec), usd))
		sec++
		put(sec, b.desc(8, uint32(sec), make([]byte, 512)))
	}
	vds(257)
	vds(273)
	// Logical volume integrity descriptor (closed) and terminator.
	nparts := 1 + boolInt(b.o.Metadata)
	lvid := make([]byte, 80+8*nparts+46)
	b.ts(lvid[16:], b.now)
	binary.LittleEndian.PutUint32(lvid[28:], 1)
	binary.LittleEndian.PutUint64(lvid[48:], b.nextUniq)
	binary.LittleEndian.PutUint32(lvid[72:], uint32(nparts))
	binary.LittleEndian.PutUint32(lvid[76:], 46)
	for i := 0; i < nparts; i++ {
		binary.LittleEndian.PutUint32(lvid[80+4*nparts+4*i:], uint32(partLen))
	}
	iu := lvid[80+8*nparts:]
	regid(iu[0:32], "*isofsd udfbuild", nil)
	binary.LittleEndian.PutUint16(iu[40:], b.o.Revision)
	binary.LittleEndian.PutUint16(iu[42:], b.o.Revision)
	binary.LittleEndian.PutUint16(iu[44:], b.o.Revision)
	put(300, b.desc(9, 300, lvid))
	put(301, b.desc(8, 301, make([]byte, 512)))
	for i, blk := range b.phys.blocks {
		copy(img[(partStart+i)*bs:], blk)
	}
	for _, sec := range []int{256, total - 1} {
		a := make([]byte, 512)
		binary.LittleEndian.PutUint32(a[16:], uint32(16*bs))
		binary.LittleEndian.PutUint32(a[20:], 257)
		binary.LittleEndian.PutUint32(a[24:], uint32(16*bs))
		binary.LittleEndian.PutUint32(a[28:], 273)
		put(sec, b.desc(2, uint32(sec), a))
	}
	return img
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Paths lists every path an image built from entries contains (for tests).
func Paths(entries []Entry) []string {
	seen := map[string]bool{}
	for _, e := range entries {
		p := strings.Trim(e.Path, "/")
		for p != "" && !seen[p] {
			seen[p] = true
			p = parentOf(p)
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
