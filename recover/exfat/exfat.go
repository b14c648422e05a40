// Package exfat reads the metadata of an exFAT volume for undelete: the
// boot sector, the FAT, the allocation bitmap and every directory entry
// set, including those whose in-use bit deletion cleared. A deleted
// entry set keeps the name, the size and the first cluster. A file marked
// NoFatChain is one contiguous run, so it comes back exactly while its
// clusters stay free. A file with a FAT chain is whole only while the
// chain survives; drivers that zero the chain on delete (exfat-fuse does)
// leave only the first cluster, and the file is then assumed to continue
// over the clusters the allocation bitmap shows free, which the result
// says.
//
// The volume is damaged by assumption: offsets, lengths and counts are
// checked before use, chains and directory walks are capped.
package exfat

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
	"unicode/utf16"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Limits.
const (
	// MaxFATBytes caps the FAT kept in memory (2^28 clusters).
	MaxFATBytes = 1 << 30
	// MaxDirBytes caps one directory read into memory (exFAT's own limit
	// is 256 MiB; real ones are far smaller).
	MaxDirBytes = 64 << 20
	// MaxDirs caps the directories walked.
	MaxDirs = 1 << 20
	// MaxDepth caps directory nesting.
	MaxDepth = 64
	// MaxExtents caps the runs of one rebuilt file.
	MaxExtents = 1 << 18
	// MaxWork caps the cluster steps spent rebuilding the deleted files of
	// one volume (following chains, walking free runs).
	MaxWork = 1 << 26
	// MaxFreeRuns caps the free-run index (8 bytes each).
	MaxFreeRuns = 1 << 24
)

// Entry types (in-use bit 0x80 set; deleted entries have it clear).
const (
	entryBitmap = 0x81
	entryFile   = 0x85
	entryStream = 0xC0
	entryName   = 0xC1
	inUse       = 0x80
)

// ErrCorrupt marks metadata that breaks exFAT's rules.
var ErrCorrupt = errors.New("exfat: corrupt metadata")

// Volume is an exFAT volume opened for undelete.
type Volume struct {
	r    io.ReaderAt
	size int64

	ClusterSize int64
	Clusters    int64 // clusters in the heap
	heap        int64 // byte offset of cluster 2
	fatOff      int64
	fatBytes    int64
	root        uint32

	fat    []byte // loaded by Open
	bitmap []byte // nil when unreadable
	free   []freeRun
	// The clusters of deleted directories that hold their entries now
	// (claims.go).
	dirClaims    []fsmeta.Claim
	claimsSorted bool
	work         int64 // cluster steps spent rebuilding deleted files
	// BitmapNote says why the allocation bitmap is missing.
	BitmapNote string
}

// Open reads the boot sector, the FAT and the allocation bitmap of r.
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	var b [512]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("exfat: boot sector: %w", err)
	}
	if !bytes.Equal(b[3:11], []byte("EXFAT   ")) {
		return nil, fsmeta.ErrNotFound
	}
	bps, spc := uint(b[108]), uint(b[109])
	if bps < 9 || bps > 12 || bps+spc > 25 {
		return nil, fmt.Errorf("%w: boot sector: sector shift %d, cluster shift %d", ErrCorrupt, bps, spc)
	}
	sector := int64(1) << bps
	v := &Volume{r: r, size: size, ClusterSize: sector << spc}
	v.fatOff = int64(binary.LittleEndian.Uint32(b[80:])) * sector
	v.fatBytes = int64(binary.LittleEndian.Uint32(b[84:])) * sector
	v.heap = int64(binary.LittleEndian.Uint32(b[88:])) * sector
	v.Clusters = int64(binary.LittleEndian.Uint32(b[92:]))
	v.root = binary.LittleEndian.Uint32(b[96:])
	if v.fatOff <= 0 || v.fatBytes < (v.Clusters+2)*4 || v.heap < v.fatOff+v.fatBytes || v.Clusters <= 0 ||
		v.Clusters > 1<<32-11 || v.root < 2 || int64(v.root) >= v.Clusters+2 {
		return nil, fmt.Errorf("%w: boot sector: FAT at %d (%d bytes), heap at %d, %d clusters, root cluster %d", ErrCorrupt, v.fatOff, v.fatBytes, v.heap, v.Clusters, v.root)
	}
	need := (v.Clusters + 2) * 4
	if need > MaxFATBytes || v.fatOff+need > size {
		return nil, fmt.Errorf("%w: FAT of %d bytes at %d does not fit the %d-byte volume", ErrCorrupt, need, v.fatOff, size)
	}
	v.fat = make([]byte, need)
	if _, err := r.ReadAt(v.fat, v.fatOff); err != nil {
		return nil, fmt.Errorf("exfat: FAT at byte %d: %w", v.fatOff, err)
	}
	v.loadBitmap()
	return v, nil
}

// Next returns the FAT entry of cluster c (0 free, ≥ 0xFFFFFFF7 bad or end).
func (v *Volume) Next(c uint32) uint32 {
	if int64(c)*4+4 > int64(len(v.fat)) {
		return 0xFFFFFFFF
	}
	return binary.LittleEndian.Uint32(v.fat[4*c:])
}

// valid reports whether c names a heap cluster.
func (v *Volume) valid(c uint32) bool { return c >= 2 && int64(c) < v.Clusters+2 }

// offset is the byte offset of cluster c.
func (v *Volume) offset(c uint32) int64 { return v.heap + int64(c-2)*v.ClusterSize }

// Allocated reports whether the allocation bitmap marks cluster c used;
// without a bitmap every cluster counts as used.
func (v *Volume) Allocated(c uint32) bool {
	i := int64(c) - 2
	if i < 0 || i/8 >= int64(len(v.bitmap)) {
		return true
	}
	return v.bitmap[i/8]&(1<<(i%8)) != 0
}

// chain follows the FAT from first for at most n clusters; it stops at
// an end mark, a free or bad entry, a loop or a cluster outside the heap.
func (v *Volume) chain(first uint32, n int64) ([]uint32, error) {
	var out []uint32
	seen := map[uint32]bool{}
	for c := first; int64(len(out)) < n; {
		if !v.valid(c) {
			return out, fmt.Errorf("%w: chain from cluster %d reaches cluster %d outside the heap", ErrCorrupt, first, c)
		}
		if seen[c] {
			return out, fmt.Errorf("%w: chain from cluster %d loops at cluster %d", ErrCorrupt, first, c)
		}
		seen[c] = true
		out = append(out, c)
		next := v.Next(c)
		if next >= 0xFFFFFFF7 || next == 0 {
			break
		}
		c = next
	}
	return out, nil
}

// readRun reads n bytes of a file from first, contiguous or by chain.
func (v *Volume) readRun(first uint32, n int64, contiguous bool) ([]byte, error) {
	b, _, err := v.readClusters(first, n, contiguous)
	return b, err
}

// readClusters is readRun that also returns the clusters read, in order.
func (v *Volume) readClusters(first uint32, n int64, contiguous bool) ([]byte, []uint32, error) {
	if n <= 0 || n > MaxDirBytes {
		return nil, nil, fmt.Errorf("%w: directory of %d bytes", ErrCorrupt, n)
	}
	clusters := (n + v.ClusterSize - 1) / v.ClusterSize
	var cs []uint32
	if contiguous {
		if !v.valid(first) || int64(first)-2+clusters > v.Clusters {
			return nil, nil, fmt.Errorf("%w: contiguous run of %d clusters from %d leaves the heap", ErrCorrupt, clusters, first)
		}
		for i := int64(0); i < clusters; i++ {
			cs = append(cs, first+uint32(i))
		}
	} else {
		var err error
		if cs, err = v.chain(first, clusters); err != nil && len(cs) == 0 {
			return nil, nil, err
		}
	}
	out := make([]byte, int64(len(cs))*v.ClusterSize)
	for i, c := range cs {
		if _, err := v.r.ReadAt(out[int64(i)*v.ClusterSize:int64(i+1)*v.ClusterSize], v.offset(c)); err != nil {
			return nil, nil, fmt.Errorf("exfat: cluster %d: %w", c, err)
		}
	}
	return out[:min(int64(len(out)), n)], cs, nil
}

// loadBitmap finds the allocation bitmap entry in the root directory.
func (v *Volume) loadBitmap() {
	root, err := v.readRun(v.root, min(MaxDirBytes, v.Clusters*v.ClusterSize), false)
	if err != nil {
		v.BitmapNote = fmt.Sprintf("root directory: %v", err)
		return
	}
	for i := 0; i+32 <= len(root); i += 32 {
		e := root[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] != entryBitmap || e[1]&1 != 0 { // the first FAT's bitmap
			continue
		}
		c := binary.LittleEndian.Uint32(e[20:])
		n := int64(binary.LittleEndian.Uint64(e[24:]))
		if n < (v.Clusters+7)/8 || n > MaxFATBytes || !v.valid(c) {
			v.BitmapNote = fmt.Sprintf("allocation bitmap entry: %d bytes at cluster %d", n, c)
			return
		}
		b, err := v.readRun(c, min(n, (v.Clusters+7)/8), false)
		if err != nil {
			v.BitmapNote = fmt.Sprintf("allocation bitmap: %v", err)
			return
		}
		v.bitmap = b
		return
	}
	v.BitmapNote = "no allocation bitmap entry in the root directory"
}

// EntrySet is one decoded file entry set (file, stream extension, names).
type EntrySet struct {
	Deleted    bool
	Dir        bool
	Name       string
	First      uint32
	Size       int64 // data length
	ValidSize  int64
	NoFatChain bool
	Modified   time.Time
	// NameComplete is false when name entries were missing or overwritten.
	NameComplete bool
}

// ParseEntrySets decodes the entry sets of a directory's bytes, live and
// deleted. A set is taken when its file entry and stream extension agree
// in state (both live or both deleted); names are taken from as many name
// entries as follow.
func ParseEntrySets(b []byte) []EntrySet {
	var out []EntrySet
	for i := 0; i+32 <= len(b); i += 32 {
		e := b[i : i+32]
		if e[0]&^inUse != entryFile&^inUse {
			continue
		}
		deleted := e[0]&inUse == 0
		second := int(e[1])
		if second < 2 || second > 18 || i+64 > len(b) {
			continue
		}
		s := b[i+32 : i+64]
		if s[0]&^inUse != entryStream&^inUse || (s[0]&inUse == 0) != deleted {
			continue
		}
		es := EntrySet{
			Deleted:    deleted,
			Dir:        binary.LittleEndian.Uint16(e[4:])&0x10 != 0,
			NoFatChain: s[1]&2 != 0,
			ValidSize:  int64(binary.LittleEndian.Uint64(s[8:])),
			First:      binary.LittleEndian.Uint32(s[20:]),
			Size:       int64(binary.LittleEndian.Uint64(s[24:])),
			Modified:   dosTime(binary.LittleEndian.Uint32(e[12:]), e[21]),
		}
		nameLen := int(s[3])
		var u []uint16
		for k := 2; k <= second && len(u) < nameLen; k++ {
			o := i + 32*k
			if o+32 > len(b) {
				break
			}
			n := b[o : o+32]
			if n[0]&^inUse != entryName&^inUse || (n[0]&inUse == 0) != deleted {
				break
			}
			for c := 2; c+2 <= 32 && len(u) < nameLen; c += 2 {
				u = append(u, binary.LittleEndian.Uint16(n[c:]))
			}
		}
		es.Name = string(utf16.Decode(u))
		es.NameComplete = len(u) == nameLen
		if es.Size < 0 || es.ValidSize < 0 {
			continue
		}
		out = append(out, es)
		i += 32 * second
	}
	return out
}

// dosTime decodes an exFAT timestamp (DOS date/time, UTC offset ignored).
func dosTime(ts uint32, _ byte) time.Time {
	d, t := ts>>16, ts&0xFFFF
	if d == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(d>>9), time.Month(d>>5&15), int(d&31), int(t>>11), int(t>>5&63), int(t&31)*2, 0, time.UTC)
}

// Progress reports directories walked.
type Progress func(done, total int64)

// Deleted walks the directory tree from the root — live directories and
// deleted ones whose clusters can still be found — and returns the
// deleted files with their extents.
func (v *Volume) Deleted(ctx context.Context, progress Progress) ([]*fsmeta.File, error) {
	type dir struct {
		path       string
		first      uint32
		size       int64
		contiguous bool
		depth      int
		deleted    bool
	}
	queue := []dir{{path: "", first: v.root, size: min(MaxDirBytes, v.Clusters*v.ClusterSize)}}
	v.dirClaims, v.claimsSorted = nil, false
	seen := map[uint32]bool{}
	var out []*fsmeta.File
	for walked := 0; len(queue) > 0; walked++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if walked >= MaxDirs {
			return out, fmt.Errorf("%w: more than %d directories", ErrCorrupt, MaxDirs)
		}
		d := queue[0]
		queue = queue[1:]
		if seen[d.first] {
			continue // two entries naming one directory, or a loop
		}
		seen[d.first] = true
		b, cs, err := v.readClusters(d.first, d.size, d.contiguous)
		if err != nil {
			continue
		}
		if d.deleted {
			v.noteDeletedDir(d.path, b, cs)
		}
		for _, es := range ParseEntrySets(b) {
			p := d.path + "/" + es.Name
			if es.Dir {
				if d.depth < MaxDepth && v.valid(es.First) && es.Size > 0 {
					queue = append(queue, dir{p, es.First, min(es.Size, MaxDirBytes), es.NoFatChain, d.depth + 1, d.deleted || es.Deleted})
				}
				continue
			}
			if es.Deleted {
				out = append(out, v.rebuild(es, p))
			}
		}
		if progress != nil {
			progress(int64(walked+1), int64(walked+1+len(queue)))
		}
	}
	return out, nil
}

// rebuild works out the extents of a deleted file. Its cost is counted
// against the volume's work budget (a hostile directory can list millions
// of entries each claiming the whole heap).
func (v *Volume) rebuild(es EntrySet, p string) *fsmeta.File {
	f := &fsmeta.File{FS: "exfat", ID: fmt.Sprintf("directory entry of %s (first cluster %d)", p, es.First), Name: es.Name, Path: p, Size: es.Size, Modified: es.Modified}
	if !es.NameComplete {
		f.Notes = append(f.Notes, "name entries incomplete")
	}
	if es.Size == 0 {
		f.Complete = true
		return f
	}
	if !v.valid(es.First) {
		f.Notes = append(f.Notes, fmt.Sprintf("first cluster %d is outside the heap", es.First))
		return f
	}
	if v.work > MaxWork {
		f.Notes = append(f.Notes, fmt.Sprintf("not rebuilt: the volume's deleted entries exceed the work limit (%d cluster steps)", MaxWork))
		return f
	}
	clusters := (es.Size + v.ClusterSize - 1) / v.ClusterSize
	var pos int64
	// addRun appends n clusters from c as the file's next piece; false
	// when the file is full or has too many runs.
	addRun := func(c uint32, n int64) bool {
		ln := min(n*v.ClusterSize, es.Size-pos)
		if ln <= 0 {
			return false
		}
		e := fsmeta.Extent{Logical: pos, Physical: v.offset(c), Length: ln}
		ok := true
		switch {
		case pos >= es.ValidSize:
			ok = f.Append(fsmeta.Extent{Logical: pos, Length: ln, Zero: true}, MaxExtents)
		case pos+ln > es.ValidSize:
			ok = f.Append(fsmeta.Extent{Logical: pos, Physical: e.Physical, Length: es.ValidSize - pos}, MaxExtents) &&
				f.Append(fsmeta.Extent{Logical: es.ValidSize, Length: pos + ln - es.ValidSize, Zero: true}, MaxExtents)
		default:
			ok = f.Append(e, MaxExtents)
		}
		if !ok {
			f.Notes = append(f.Notes, fmt.Sprintf("more than %d runs", MaxExtents))
			return false
		}
		pos += ln
		return pos < es.Size
	}
	switch {
	case es.NoFatChain:
		if int64(es.First)-2+clusters > v.Clusters {
			f.Notes = append(f.Notes, "contiguous run leaves the heap")
			return f
		}
		addRun(es.First, clusters)
		f.Complete = pos == es.Size
	case v.Next(es.First) != 0:
		// The chain survived deletion (some drivers leave the FAT alone).
		c, err := v.chain(es.First, clusters)
		v.work += int64(len(c))
		for i := 0; i < len(c); {
			j := i + 1
			for j < len(c) && c[j] == c[j-1]+1 {
				j++
			}
			if !addRun(c[i], int64(j-i)) {
				break
			}
			i = j
		}
		if err != nil || pos < es.Size {
			f.Notes = append(f.Notes, fmt.Sprintf("FAT chain gives %d of %d clusters", len(c), clusters))
		} else {
			f.Complete = true
			f.Notes = append(f.Notes, "FAT chain read as deletion left it")
		}
	default:
		// The chain was zeroed: assume the file ran on over free clusters.
		if v.bitmap == nil {
			f.Notes = append(f.Notes, "FAT chain zeroed and no allocation bitmap: "+v.BitmapNote)
			return f
		}
		runs := v.freeRuns()
		i := sort.Search(len(runs), func(i int) bool { return runs[i].start+runs[i].n > es.First })
		for ; i < len(runs); i++ {
			v.work++
			c := max(runs[i].start, es.First)
			if !addRun(c, int64(runs[i].start+runs[i].n-c)) {
				break
			}
		}
		f.Notes = append(f.Notes, "FAT chain zeroed by deletion: assumed the file continues over the clusters the allocation bitmap shows free (unproven)")
		if pos < es.Size {
			f.Notes = append(f.Notes, fmt.Sprintf("only %d of %d bytes in free clusters after cluster %d", pos, es.Size, es.First))
		}
	}
	if v.bitmap == nil {
		f.Notes = append(f.Notes, "cluster allocation unknown: "+v.BitmapNote)
	}
	return f
}

// freeRun is a run of clusters the allocation bitmap shows free.
type freeRun struct{ start, n uint32 }

// freeRuns lists the free runs of the heap in order, built once.
func (v *Volume) freeRuns() []freeRun {
	if v.free != nil {
		return v.free
	}
	v.free = []freeRun{}
	for c := uint32(2); int64(c) < v.Clusters+2; c++ {
		if v.Allocated(c) {
			continue
		}
		if n := len(v.free); n > 0 && v.free[n-1].start+v.free[n-1].n == c {
			v.free[n-1].n++
		} else if n < MaxFreeRuns {
			v.free = append(v.free, freeRun{c, 1})
		} else {
			break // a bitmap that fragmented is not a real one: rebuilds stop here
		}
	}
	return v.free
}

// AllFree reports whether every cluster of f's data extents (relative to
// the volume) is free in the allocation bitmap; callers ask it only for
// the files they recover.
func (v *Volume) AllFree(f *fsmeta.File) bool {
	if v.bitmap == nil {
		return false
	}
	return fsmeta.AllFree(f, v.heap, v.ClusterSize, func(i int64) bool { return i < v.Clusters && !v.Allocated(uint32(i+2)) })
}
