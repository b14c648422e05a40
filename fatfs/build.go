package fatfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Node is one entry of a tree to lay out as FAT32.
type Node struct {
	// Name is the long name; it must pass ValidLongName.
	Name     string
	Dir      bool
	Size     int64 // files only; at most MaxFileSize
	Modified time.Time
	Created  time.Time
	Accessed time.Time
	ReadOnly bool
	Children []*Node
	// Data is the caller's handle on the file's content, handed back in
	// the file's Region.
	Data any

	// Filled in by Plan.
	first    uint32 // first cluster (0 for empty files)
	clusters int64
	short    [11]byte
	lfn      bool
	parent   *Node
}

// FirstCluster is where Plan put the node (0 for an empty file).
func (n *Node) FirstCluster() uint32 { return n.first }

// MaxFileSize is the largest file FAT32 holds.
const MaxFileSize = 1<<32 - 1

// Options shape the volume Plan lays out.
type Options struct {
	// Size is the volume size in bytes (the partition).
	Size int64
	// SectorSize is 512 (default) or 4096: the drive's logical sector size.
	SectorSize int
	// ClusterSize overrides the Microsoft default for Size (0).
	ClusterSize int
	// Label is the volume label; it must pass ValidLabel ("" for none).
	Label string
	// HiddenSectors is the partition's first sector, for the boot sector.
	HiddenSectors uint32
	// Serial is the volume serial number.
	Serial uint32
	// Time stamps the root's label entry.
	Time time.Time
	// Order lists the files in the order their data is to be laid out
	// (and written); nil means the tree's own order. Every file of the
	// tree must appear exactly once.
	Order []*Node
}

// Alignment of the data area from the start of the volume: flash media
// erase in blocks of up to 4 MiB, but the common partition alignment of
// 1 MiB keeps clusters from straddling their pages.
const dataAlign = 1 << 20

// minClusters32 is the least number of clusters a FAT32 volume must have
// to be recognised as FAT32 by every implementation that counts them.
const minClusters32 = maxClusters16 + 1

// DefaultClusterSize is Microsoft's default FAT32 cluster size for a
// volume of size bytes (512-byte sectors): 512 B up to 260 MB, 4 KiB up
// to 8 GiB, 8 KiB up to 16 GiB, 16 KiB up to 32 GiB, 32 KiB beyond.
func DefaultClusterSize(size int64) int {
	switch secs := size / 512; {
	case secs <= 532480:
		return 512
	case secs <= 16777216:
		return 4096
	case secs <= 33554432:
		return 8192
	case secs <= 67108864:
		return 16384
	}
	return 32768
}

// Region is one stretch of the volume, in order; together they cover
// [0, Layout.End).
type Region struct {
	Off, Len int64
	Kind     RegionKind
	// Bytes holds the content of a RegionBytes region.
	Bytes []byte
	// File is the node whose data a RegionFile region holds (Len bytes
	// from its start).
	File *Node
	// FATOffset is where a RegionFAT region starts within one FAT.
	FATOffset int64
}

// RegionKind tells how a region's bytes are produced.
type RegionKind int

// Region kinds.
const (
	RegionBytes RegionKind = iota // Bytes, as they are
	RegionZero                    // zeros
	RegionFAT                     // Layout.FATBytes
	RegionFile                    // the content of File
)

// Layout is a complete FAT32 volume, computed before anything is written.
type Layout struct {
	Geometry
	Regions []Region
	// End is the byte just past the last cluster in use: nothing beyond
	// needs writing.
	End int64
	// FreeClusters is what FSInfo records.
	FreeClusters uint32
	// Files lists the files in data order.
	Files []*Node

	root   *Node
	runs   []Run // cluster runs in use, ascending
	boot   []byte
	fsinfo []byte
}

// Plan lays out the tree below root (its Name is ignored) on a volume of
// o.Size bytes.
func Plan(root *Node, o Options) (*Layout, error) {
	if o.SectorSize == 0 {
		o.SectorSize = 512
	}
	if o.SectorSize != 512 && o.SectorSize != 4096 {
		return nil, fmt.Errorf("fatfs: sector size %d: want 512 or 4096", o.SectorSize)
	}
	if err := ValidLabel(o.Label); err != nil {
		return nil, err
	}
	if !root.Dir {
		return nil, errors.New("fatfs: the root must be a directory")
	}
	cs := o.ClusterSize
	if cs == 0 {
		cs = max(DefaultClusterSize(o.Size), o.SectorSize)
	}
	if cs < o.SectorSize || cs%o.SectorSize != 0 || cs > 64<<10 || cs&(cs-1) != 0 {
		return nil, fmt.Errorf("fatfs: cluster size %d: want a power of two from the sector size %d to 64 KiB", cs, o.SectorSize)
	}
	files, dirs, err := prepare(root, o.Label != "")
	if err != nil {
		return nil, err
	}
	if o.Order != nil {
		if err := checkOrder(files, o.Order); err != nil {
			return nil, err
		}
		files = o.Order
	}
	g, err := geometry(o, cs)
	if err != nil {
		return nil, err
	}
	l := &Layout{Geometry: *g, root: root, Files: files}

	// Clusters: directories first (root at 2), then files in order, each
	// one contiguous run.
	next := uint32(2)
	alloc := func(n *Node, clusters int64) error {
		if clusters == 0 {
			n.first = 0
			return nil
		}
		if int64(next-2)+clusters > int64(g.Clusters) {
			return fmt.Errorf("fatfs: the tree needs more than the %d clusters of %d bytes a %d-byte volume has", g.Clusters, g.ClusterSize, o.Size)
		}
		n.first, n.clusters = next, clusters
		l.runs = append(l.runs, Run{next, uint32(clusters)})
		next += uint32(clusters)
		return nil
	}
	for _, d := range dirs {
		if err := alloc(d, (dirEntries(d, d == root && o.Label != "")*32+g.ClusterSize-1)/g.ClusterSize); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := alloc(f, (f.Size+g.ClusterSize-1)/g.ClusterSize); err != nil {
			return nil, err
		}
	}
	used := next - 2
	l.FreeClusters = g.Clusters - used
	l.End = g.DataOffset + int64(used)*g.ClusterSize
	l.boot = bootSector(g, o)
	l.fsinfo = fsInfo(g, l.FreeClusters, next)

	// Regions, in volume order.
	bps := int64(g.BytesPerSector)
	add := func(r Region) {
		if r.Len > 0 {
			r.Off = regionEnd(l.Regions)
			l.Regions = append(l.Regions, r)
		}
	}
	reserved := make([]byte, 8*bps)
	copy(reserved, l.boot)
	copy(reserved[bps:], l.fsinfo)
	copy(reserved[6*bps:], l.boot)
	copy(reserved[7*bps:], l.fsinfo)
	add(Region{Kind: RegionBytes, Len: int64(len(reserved)), Bytes: reserved})
	add(Region{Kind: RegionZero, Len: g.FATOffset - int64(len(reserved))})
	fatBytes := g.FATSectors * bps
	for range g.NumFATs {
		add(Region{Kind: RegionFAT, Len: fatBytes})
	}
	for _, d := range dirs {
		add(Region{Kind: RegionBytes, Len: d.clusters * g.ClusterSize, Bytes: l.dirBytes(d, d == root, o)})
	}
	for _, f := range files {
		add(Region{Kind: RegionFile, Len: f.Size, File: f})
		add(Region{Kind: RegionZero, Len: f.clusters*g.ClusterSize - f.Size})
	}
	if e := regionEnd(l.Regions); e != l.End {
		return nil, fmt.Errorf("fatfs: internal error: regions end at %d, clusters at %d", e, l.End)
	}
	return l, nil
}

func regionEnd(rs []Region) int64 {
	if len(rs) == 0 {
		return 0
	}
	r := rs[len(rs)-1]
	return r.Off + r.Len
}

// BootSector returns the volume's first sector. A writer that wants an
// interrupted write to leave no recognisable file system writes it last.
func (l *Layout) BootSector() []byte { return append([]byte(nil), l.boot...) }

// FATBytes fills p with the bytes of one FAT at offset off within it:
// the media entries, one run per directory and file, free elsewhere.
func (l *Layout) FATBytes(p []byte, off int64) {
	clear(p)
	// Entry-aligned window.
	first := off / 4
	last := (off + int64(len(p)) + 3) / 4 // exclusive
	// Runs are ascending: find the first that may touch the window.
	i := 0
	for lo, hi := 0, len(l.runs); lo < hi; {
		m := (lo + hi) / 2
		if int64(l.runs[m].First+l.runs[m].Count) <= first {
			lo = m + 1
			i = lo
		} else {
			hi = m
		}
	}
	put := func(c int64, v uint32) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		for k := int64(0); k < 4; k++ {
			if at := c*4 + k - off; at >= 0 && at < int64(len(p)) {
				p[at] = b[k]
			}
		}
	}
	if first <= 1 {
		put(0, 0x0FFFFF00|uint32(l.Media))
		put(1, 0x0FFFFFFF)
	}
	for ; i < len(l.runs); i++ {
		r := l.runs[i]
		if int64(r.First) >= last {
			break
		}
		lo, hi := max(int64(r.First), first), min(int64(r.First+r.Count), last)
		for c := lo; c < hi; c++ {
			if c == int64(r.First+r.Count)-1 {
				put(c, 0x0FFFFFFF)
			} else {
				put(c, uint32(c+1))
			}
		}
	}
}

// geometry places the reserved area, the FATs and the data area.
func geometry(o Options, cs int) (*Geometry, error) {
	bps := int64(o.SectorSize)
	if o.Size%bps != 0 {
		return nil, fmt.Errorf("fatfs: volume size %d is not a multiple of the sector size %d", o.Size, bps)
	}
	total := o.Size / bps
	if total > 1<<32-1 {
		return nil, fmt.Errorf("fatfs: a %d-byte volume has more sectors than FAT32 can count (2^32-1 of %d bytes)", o.Size, bps)
	}
	spc := int64(cs) / bps
	align := max(int64(dataAlign), int64(cs)) / bps
	reserved, fatSecs, clusters := int64(32), int64(0), int64(0)
	// The FAT size depends on the cluster count, which depends on the FAT
	// size: iterate to the fixed point (two or three rounds).
	for range 8 {
		meta := reserved + 2*fatSecs
		clusters = (total - meta) / spc
		need := ((clusters+2)*4 + bps - 1) / bps
		if need <= fatSecs {
			break
		}
		fatSecs = need
		// Pad the reserved area so that the data area starts aligned.
		reserved = (32+2*fatSecs+align-1)/align*align - 2*fatSecs
	}
	clusters = (total - reserved - 2*fatSecs) / spc
	switch {
	case total <= reserved+2*fatSecs || clusters < minClusters32:
		return nil, fmt.Errorf("fatfs: a %d-byte volume with %d-byte clusters has %d clusters, FAT32 needs at least %d", o.Size, cs, max(clusters, 0), minClusters32)
	case clusters > maxClusters32:
		return nil, fmt.Errorf("fatfs: %d clusters of %d bytes, more than FAT32 allows: use larger clusters", clusters, cs)
	case reserved > 0xffff:
		return nil, fmt.Errorf("fatfs: internal error: %d reserved sectors", reserved)
	}
	g := &Geometry{
		Type: 32, OEMName: "MSWIN4.1", BytesPerSector: int(bps), SectorsPerCluster: int(spc), ClusterSize: int64(cs),
		ReservedSectors: reserved, NumFATs: 2, FATSectors: fatSecs, TotalSectors: total, Media: 0xF8,
		HiddenSecs: o.HiddenSectors, RootCluster: 2, FSInfoSector: 1, BackupBoot: 6, Serial: o.Serial,
		BPBLabel: o.Label, FSType: "FAT32",
		FATOffset: reserved * bps, DataOffset: (reserved + 2*fatSecs) * bps, Clusters: uint32(clusters),
	}
	if g.BPBLabel == "" {
		g.BPBLabel = "NO NAME"
	}
	return g, nil
}

// MinSize is the smallest volume (in bytes, a multiple of 1 MiB) that
// holds the tree below root with Microsoft's default cluster size for
// that volume size, plus slack for a few more clusters.
func MinSize(root *Node, sectorSize int, withLabel bool) (int64, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	files, dirs, err := prepare(root, withLabel)
	if err != nil {
		return 0, err
	}
	size := int64(64 << 20)
	for range 16 {
		cs := int64(max(DefaultClusterSize(size), sectorSize))
		var n int64
		for _, d := range dirs {
			n += (dirEntries(d, d == root && withLabel)*32 + cs - 1) / cs
		}
		for _, f := range files {
			n += (f.Size + cs - 1) / cs
		}
		clusters := max(n+n/100+16, minClusters32+16)
		fat := ((clusters+2)*4 + int64(sectorSize) - 1) / int64(sectorSize) * int64(sectorSize)
		want := (32*int64(sectorSize)+2*fat+dataAlign-1)/dataAlign*dataAlign + clusters*cs
		want = (want + dataAlign - 1) / dataAlign * dataAlign
		if want <= size && int64(max(DefaultClusterSize(want), sectorSize)) == cs {
			return want, nil
		}
		size = want
	}
	return size, nil
}

// prepare checks names and sizes, gives every entry its short name and
// returns the files and directories in tree order (root first).
func prepare(root *Node, label bool) (files, dirs []*Node, err error) {
	type item struct {
		n     *Node
		depth int
	}
	stack := []item{{root, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d := it.n
		dirs = append(dirs, d)
		if it.depth > MaxDepth {
			return nil, nil, fmt.Errorf("fatfs: %s: deeper than %d directories", pathOf(d), MaxDepth)
		}
		longs := map[string]*Node{}
		for _, c := range d.Children {
			if err := ValidLongName(c.Name); err != nil {
				return nil, nil, fmt.Errorf("fatfs: %s: %w", pathOf(d)+"/"+c.Name, err)
			}
			key := strings.ToUpper(c.Name)
			if o := longs[key]; o != nil {
				return nil, nil, fmt.Errorf("fatfs: %s and %s differ only in case, which FAT cannot tell apart", pathOf(d)+"/"+o.Name, pathOf(d)+"/"+c.Name)
			}
			longs[key] = c
			if !c.Dir && (c.Size < 0 || c.Size > MaxFileSize) {
				return nil, nil, fmt.Errorf("fatfs: %s: %d bytes, FAT32 files hold at most %d", pathOf(d)+"/"+c.Name, c.Size, int64(MaxFileSize))
			}
			c.parent = d
		}
		if err := assignShortNames(d); err != nil {
			return nil, nil, err
		}
		if n := dirEntries(d, d == root && label); n > MaxDirEntries {
			return nil, nil, fmt.Errorf("fatfs: %s: %d directory entries, FAT allows %d", pathOf(d), n, MaxDirEntries)
		}
		// Files in tree order; subdirectories depth first, in order.
		for _, c := range d.Children {
			if !c.Dir {
				files = append(files, c)
			}
		}
		for i := len(d.Children) - 1; i >= 0; i-- {
			if c := d.Children[i]; c.Dir {
				stack = append(stack, item{c, it.depth + 1})
			}
		}
	}
	return files, dirs, nil
}

func pathOf(n *Node) string {
	var parts []string
	for ; n != nil && n.parent != nil; n = n.parent {
		parts = append(parts, n.Name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

func checkOrder(files, order []*Node) error {
	in := make(map[*Node]int, len(files))
	for _, f := range files {
		in[f] = 0
	}
	for _, f := range order {
		c, ok := in[f]
		switch {
		case !ok:
			return fmt.Errorf("fatfs: the order names %q, which is not a file of the tree", f.Name)
		case c > 0:
			return fmt.Errorf("fatfs: the order names %q twice", f.Name)
		}
		in[f] = 1
	}
	if len(order) != len(files) {
		return fmt.Errorf("fatfs: the order lists %d of the tree's %d files", len(order), len(files))
	}
	return nil
}

// dirEntries counts the 32-byte entries of d's directory.
func dirEntries(d *Node, withLabel bool) int64 {
	n := int64(2) // "." and ".."
	if d.parent == nil {
		n = 0
		if withLabel {
			n = 1
		}
	}
	for _, c := range d.Children {
		n++
		if c.lfn {
			n += int64(lfnCount(c.Name))
		}
	}
	return max(n, 1)
}

func lfnCount(name string) int { return (len(utf16.Encode([]rune(name))) + 12) / 13 }

// ValidLongName checks a name against what FAT long names may hold.
func ValidLongName(name string) error {
	u := utf16.Encode([]rune(name))
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case len(u) > 255:
		return fmt.Errorf("name is %d UTF-16 units long, FAT allows 255", len(u))
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return errors.New("name ends in a dot or a space, which Windows strips")
	}
	for _, r := range name {
		if r < 0x20 || strings.ContainsRune(`"*/:<>?\|`, r) || r == 0x7f {
			return fmt.Errorf("character %q is not allowed in FAT names", r)
		}
	}
	return nil
}

// shortChars are the characters a short name may hold besides A-Z, 0-9
// and bytes above 0x7F (which this builder never writes).
const shortChars = "$%'-_@~`!(){}^#&"

func shortChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(shortChars, r)
}

// ValidLabel checks a volume label: at most 11 characters of the short
// name set or spaces, upper case.
func ValidLabel(s string) error {
	if len(s) > 11 {
		return fmt.Errorf("fatfs: label %q is longer than 11 characters", s)
	}
	for _, r := range s {
		if !shortChar(r) && r != ' ' {
			return fmt.Errorf("fatfs: label %q: character %q is not allowed", s, r)
		}
	}
	return nil
}

// SanitizeLabel turns any name (an ISO volume ID) into a FAT label: upper
// case, characters FAT does not allow replaced by '_', at most 11.
func SanitizeLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(strings.TrimSpace(s)) {
		if b.Len() == 11 {
			break
		}
		if shortChar(r) || r == ' ' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// assignShortNames gives each child of d a unique 8.3 name: the name
// itself when it is a valid upper-case 8.3 name (no long-name entries
// then), else a basis name with a numeric tail (~1, ~2, …) as Windows
// makes them.
func assignShortNames(d *Node) error {
	taken := map[[11]byte]bool{}
	var pending []*Node
	for _, c := range d.Children {
		if s, ok := exactShort(c.Name); ok && !taken[s] {
			c.short, c.lfn = s, false
			taken[s] = true
			continue
		}
		pending = append(pending, c)
	}
	for _, c := range pending {
		base, ext := basisName(c.Name)
		found := false
		for n := 1; n < 1000000; n++ {
			tail := "~" + strconv.Itoa(n)
			b := base
			if len(b)+len(tail) > 8 {
				b = b[:8-len(tail)]
			}
			s := pack83(b+tail, ext)
			if !taken[s] {
				c.short, c.lfn = s, true
				taken[s] = true
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("fatfs: %s: no free short name", pathOf(c))
		}
	}
	return nil
}

func exactShort(name string) ([11]byte, bool) {
	base, ext, dot := name, "", strings.LastIndexByte(name, '.')
	if dot >= 0 {
		base, ext = name[:dot], name[dot+1:]
	}
	if base == "" || len(base) > 8 || len(ext) > 3 || dot >= 0 && ext == "" {
		return [11]byte{}, false
	}
	for _, r := range base + ext {
		if !shortChar(r) {
			return [11]byte{}, false
		}
	}
	return pack83(base, ext), true
}

func basisName(name string) (string, string) {
	s := strings.ToUpper(strings.ReplaceAll(name, " ", ""))
	s = strings.TrimLeft(s, ".")
	base, ext := s, ""
	if dot := strings.LastIndexByte(s, '.'); dot >= 0 {
		base, ext = s[:dot], s[dot+1:]
	}
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range s {
			if b.Len() == n {
				break
			}
			switch {
			case r == '.':
			case shortChar(r):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext = clean(base, 8), clean(ext, 3)
	if base == "" {
		base = "_"
	}
	return base, ext
}

func pack83(base, ext string) [11]byte {
	var s [11]byte
	for i := range s {
		s[i] = ' '
	}
	copy(s[:8], base)
	copy(s[8:], ext)
	if s[0] == deletedMark {
		s[0] = 0x05
	}
	return s
}

// dirBytes encodes d's directory clusters.
func (l *Layout) dirBytes(d *Node, isRoot bool, o Options) []byte {
	b := make([]byte, d.clusters*l.ClusterSize)
	at := 0
	put := func(e []byte) { at += copy(b[at:], e) }
	if isRoot {
		if o.Label != "" {
			lb := label11(o.Label)
			put(shortEntry(lb, AttrVolumeID, 0, 0, o.Time, o.Time, o.Time))
		}
	} else {
		parent := d.parent.first
		if d.parent.parent == nil {
			parent = 0 // ".." of a first-level directory names the root as 0
		}
		put(shortEntry(pack83(".", ""), AttrDirectory, d.first, 0, d.Modified, d.Created, d.Accessed))
		put(shortEntry(pack83("..", ""), AttrDirectory, parent, 0, d.Modified, d.Created, d.Accessed))
	}
	for _, c := range d.Children {
		if c.lfn {
			for _, e := range lfnEntries(c.Name, c.short) {
				put(e)
			}
		}
		attr := AttrArchive
		size := uint32(c.Size)
		if c.Dir {
			attr, size = AttrDirectory, 0
		}
		if c.ReadOnly {
			attr |= AttrReadOnly
		}
		put(shortEntry(c.short, attr, c.first, size, c.Modified, c.Created, c.Accessed))
	}
	return b
}

func shortEntry(name [11]byte, attr Attr, first uint32, size uint32, mod, created, accessed time.Time) []byte {
	e := make([]byte, 32)
	copy(e, name[:])
	e[11] = byte(attr)
	if created.IsZero() {
		created = mod
	}
	if accessed.IsZero() {
		accessed = mod
	}
	if !created.IsZero() {
		d, t, tenths := EncodeTime(created)
		e[13] = tenths
		binary.LittleEndian.PutUint16(e[14:], t)
		binary.LittleEndian.PutUint16(e[16:], d)
	}
	if !accessed.IsZero() {
		d, _, _ := EncodeTime(accessed)
		binary.LittleEndian.PutUint16(e[18:], d)
	}
	binary.LittleEndian.PutUint16(e[20:], uint16(first>>16))
	if !mod.IsZero() {
		d, t, _ := EncodeTime(mod)
		binary.LittleEndian.PutUint16(e[22:], t)
		binary.LittleEndian.PutUint16(e[24:], d)
	}
	binary.LittleEndian.PutUint16(e[26:], uint16(first))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

// lfnEntries encodes name as long-name entries, in on-disk order (the
// last part first).
func lfnEntries(name string, short [11]byte) [][]byte {
	u := utf16.Encode([]rune(name))
	n := (len(u) + 12) / 13
	sum := ShortNameChecksum(short[:])
	padded := make([]uint16, n*13)
	for i := range padded {
		switch {
		case i < len(u):
			padded[i] = u[i]
		case i == len(u):
			padded[i] = 0
		default:
			padded[i] = 0xffff
		}
	}
	out := make([][]byte, 0, n)
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11] = byte(attrLFN)
		e[13] = sum
		chars := padded[(seq-1)*13 : seq*13]
		k := 0
		for _, r := range [][2]int{{1, 11}, {14, 26}, {28, 32}} {
			for o := r[0]; o < r[1]; o += 2 {
				binary.LittleEndian.PutUint16(e[o:], chars[k])
				k++
			}
		}
		out = append(out, e)
	}
	return out
}

// bootSector encodes the FAT32 boot sector. Its code only asks the BIOS
// to try the next boot device (int 18h): legacy-BIOS boot from this
// volume is not offered; UEFI firmware reads the file system instead.
func bootSector(g *Geometry, o Options) []byte {
	b := make([]byte, g.BytesPerSector)
	copy(b, []byte{0xEB, 0x58, 0x90})
	copy(b[3:11], "MSWIN4.1")
	binary.LittleEndian.PutUint16(b[11:], uint16(g.BytesPerSector))
	b[13] = byte(g.SectorsPerCluster)
	binary.LittleEndian.PutUint16(b[14:], uint16(g.ReservedSectors))
	b[16] = byte(g.NumFATs)
	b[21] = g.Media
	binary.LittleEndian.PutUint16(b[24:], 63)  // sectors per track, for old BIOS geometry
	binary.LittleEndian.PutUint16(b[26:], 255) // heads
	binary.LittleEndian.PutUint32(b[28:], g.HiddenSecs)
	binary.LittleEndian.PutUint32(b[32:], uint32(g.TotalSectors))
	binary.LittleEndian.PutUint32(b[36:], uint32(g.FATSectors))
	binary.LittleEndian.PutUint32(b[44:], g.RootCluster)
	binary.LittleEndian.PutUint16(b[48:], uint16(g.FSInfoSector))
	binary.LittleEndian.PutUint16(b[50:], uint16(g.BackupBoot))
	b[64] = 0x80
	b[66] = 0x29
	binary.LittleEndian.PutUint32(b[67:], g.Serial)
	lb := label11(g.BPBLabel)
	copy(b[71:82], lb[:])
	copy(b[82:90], "FAT32   ")
	copy(b[90:], []byte{0xCD, 0x18, 0xF4, 0xEB, 0xFD}) // int 18h; hlt; jmp $-1
	b[510], b[511] = 0x55, 0xAA
	return b
}

func fsInfo(g *Geometry, free, next uint32) []byte {
	b := make([]byte, g.BytesPerSector)
	binary.LittleEndian.PutUint32(b[0:], 0x41615252)
	binary.LittleEndian.PutUint32(b[484:], 0x61417272)
	binary.LittleEndian.PutUint32(b[488:], free)
	binary.LittleEndian.PutUint32(b[492:], next)
	binary.LittleEndian.PutUint32(b[508:], 0xAA550000)
	return b
}
