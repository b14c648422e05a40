package isofmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// Tree kinds, richest first.
const (
	TreeUDF       = "udf"
	TreeRockRidge = "rockridge"
	TreeJoliet    = "joliet"
	TreeISO9660   = "iso9660"
)

// TreeNames lists the tree kinds, richest first: what Options.Tree and
// WithTree accept (besides "" for the richest present).
var TreeNames = []string{TreeUDF, TreeRockRidge, TreeJoliet, TreeISO9660}

// Inode number spaces. Offsets of records divided by 32 (records are at
// least 34 bytes apart, so they never collide) stay far below these bits.
const (
	inoSerialBase = 1 << 56 // Rock Ridge PX serial numbers of hard links
	inoExtentBase = 1 << 55 // hard links without serials: shared data extent
)

// isoDir is the Ref of an ISO 9660 directory node.
type isoDir struct {
	lba  uint32 // first block of the directory's data
	size uint32
}

// isoTree is one ISO 9660 hierarchy: plain, Joliet or Rock Ridge.
type isoTree struct {
	kind      string
	src       io.ReaderAt // sector cache
	size      int64
	blockSize int64
	joliet    bool
	rr        bool
	skip      int // SUSP skip length from SP
	rootSkip  int // where SP is in the root's "." record: 0, or xaFieldLen after a CD-XA field
	susp      *suspReader
	rootRec   *dirRecord
	warn      func(string)

	rootOnce sync.Once
	root     *Node
	rootErr  error

	ownMu  sync.Mutex
	owners map[uint32]uint32 // directory block → block of the parent that lists it
}

// noOwner marks the root directory, which no directory may list.
const noOwner = ^uint32(0)

// maxDirectories caps the directories one tree may have (bounds owners).
const maxDirectories = 1 << 22

func (t *isoTree) Kind() string { return t.kind }

func (t *isoTree) dirIno(lba uint32) uint64 { return uint64(lba) * uint64(t.blockSize) / 32 }

func (t *isoTree) Root() (*Node, error) {
	t.rootOnce.Do(func() {
		r := t.rootRec
		lba := r.extLBA + uint32(r.earLen)
		n := &Node{Name: ".", Ref: &isoDir{lba: lba, size: r.dataLen}}
		n.Stat = Stat{Inode: t.dirIno(lba), Nlink: 1, Mode: fs.ModeDir | 0o555, Size: int64(r.dataLen), ModTime: r.recorded, Location: r.offset}
		if t.rr {
			// The root's attributes live in its own "." record.
			if dot, err := t.readDot(lba); err == nil {
				rr := t.susp.parse(dot.systemUse, t.rootSkip, dot.offset)
				t.applyRR(n, rr)
			} else {
				t.rootErr = err
				return
			}
		}
		t.root = n
	})
	return t.root, t.rootErr
}

// readDot reads the first record ("." ) of the directory at lba.
func (t *isoTree) readDot(lba uint32) (*dirRecord, error) {
	recs, err := t.firstRecords(lba)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// firstRecords returns the "." and ".." records of the directory at lba.
func (t *isoTree) firstRecords(lba uint32) ([2]*dirRecord, error) {
	var out [2]*dirRecord
	off := int64(lba) * t.blockSize
	if off+SectorSize > t.size {
		return out, formatErr("directory", off, ErrTruncated, "first sector lies beyond the image end (%d bytes)", t.size)
	}
	sec := make([]byte, SectorSize)
	if _, err := t.src.ReadAt(sec, off); err != nil {
		return out, formatErr("directory", off, ErrCorrupt, "reading: %v", err)
	}
	pos := 0
	for i := 0; i < 2; i++ {
		if pos >= len(sec) || sec[pos] == 0 {
			return out, formatErr("directory", off, ErrCorrupt, "missing \".\"/\"..\" records")
		}
		r, err := parseDirRecord(sec[pos:], off+int64(pos))
		if err != nil {
			return out, err
		}
		out[i] = r
		pos += int(sec[pos])
	}
	if !out[0].isDot() || !out[1].isDotDot() {
		return out, formatErr("directory", off, ErrCorrupt, "first records are not \".\" and \"..\"")
	}
	return out, nil
}

// ReadDir parses one directory. It returns what it could parse together
// with an error when the directory is damaged part-way.
func (t *isoTree) ReadDir(dir *Node) ([]*Node, error) {
	if dir.Err != nil {
		return nil, dir.Err
	}
	ref, ok := dir.Ref.(*isoDir)
	if !ok || !dir.IsDir() {
		return nil, fmt.Errorf("isofmt: %s is not a directory", dir.Name)
	}
	start := int64(ref.lba) * t.blockSize
	size := int64(ref.size)
	var tailErr error
	if size < 2*minDirRecord {
		return nil, formatErr("directory", start, ErrCorrupt, "%q: directory of %d bytes cannot hold its \".\" and \"..\" records", dir.Name, size)
	}
	if size > MaxDirSize {
		tailErr = formatErr("directory", start, ErrLimit, "directory claims %d bytes (limit %d)", size, MaxDirSize)
		size = MaxDirSize
	}
	if start+size > t.size {
		avail := max(t.size-start, 0)
		tailErr = errors.Join(tailErr, formatErr("directory", start, ErrTruncated, "directory of %d bytes runs past the image end (%d bytes readable)", size, avail))
		size = avail - avail%SectorSize
	}
	var (
		out     []*Node
		rec     dirRecord // the record being looked at, reused
		pending multi     // the entry being assembled, reused
		sec     = make([]byte, SectorSize)
	)
	finish := func() {
		if n := t.finishFile(&pending, ref); n != nil {
			out = append(out, n)
		}
		pending.recs = pending.recs[:0]
	}
	for s := int64(0); s < size; s += SectorSize {
		if _, err := t.src.ReadAt(sec, start+s); err != nil {
			return out, formatErr("directory", start+s, ErrCorrupt, "reading: %v", err)
		}
		for pos := 0; pos < SectorSize && sec[pos] != 0; {
			recOff := start + s + int64(pos)
			if err := parseDirRecordInto(&rec, sec[pos:], recOff); err != nil {
				// Records never straddle sectors: skip to the next sector.
				t.warn(err.Error())
				break
			}
			pos += int(sec[pos])
			if rec.isDot() || rec.isDotDot() || rec.flags&flagAssociated != 0 {
				continue
			}
			if len(out) >= MaxDirEntries {
				return out, formatErr("directory", start, ErrLimit, "more than %d entries", MaxDirEntries)
			}
			if len(pending.recs) > 0 && string(pending.recs[0].ident) != string(rec.ident) {
				t.warn(fmt.Sprintf("isofmt: multi-extent file at byte %d has no final extent", pending.recs[0].offset))
				finish()
			}
			pending.recs = append(pending.recs, rec)
			if rec.flags&flagMultiExtent != 0 && !rec.isDir() {
				if len(pending.recs) < MaxExtentsPerFile {
					continue
				}
				t.warn(fmt.Sprintf("isofmt: multi-extent file at byte %d has more than %d extents; the rest is listed as another entry", pending.recs[0].offset, MaxExtentsPerFile))
			}
			finish()
		}
		if len(pending.recs) > 0 {
			// The multi-extent file goes on in the next sector, which is
			// read into this same buffer: its first record (whose name
			// and system use area name the file) must not alias it.
			f := &pending.recs[0]
			f.ident, f.systemUse = bytes.Clone(f.ident), bytes.Clone(f.systemUse)
		}
	}
	if len(pending.recs) > 0 {
		finish()
	}
	if t.rr && ref.lba == t.rootRec.extLBA+uint32(t.rootRec.earLen) {
		out = t.hideRRMoved(out)
	}
	return out, tailErr
}

// uniqueNames renames later entries whose names collide with earlier ones
// (after ";1" and trailing-dot stripping, "NAME." and "NAME" are one name;
// hostile images repeat names outright), so every entry stays reachable
// by path: the first few repeats get "_", "__", "___" appended, as
// xorriso does, later ones "_4", "_5", ... The work is linear in the
// entries even when a directory repeats one name a million times
// (appending "_" until the name was free took quadratic time and memory).
func uniqueNames(nodes []*Node) {
	if len(nodes) < 2 {
		return
	}
	seen := make(map[string]struct{}, len(nodes))
	var repeats map[string]int // per repeated name, the last suffix tried
	for _, n := range nodes {
		if _, dup := seen[n.Name]; dup {
			if repeats == nil {
				repeats = map[string]int{}
			}
			base := n.Name
			for {
				k := repeats[base] + 1
				repeats[base] = k
				name := base + "_" + strconv.Itoa(k)
				if k <= 3 {
					name = base + strings.Repeat("_", k)
				}
				if _, taken := seen[name]; !taken {
					n.Name = name
					break
				}
			}
		}
		seen[n.Name] = struct{}{}
	}
}

// multi holds the records of one entry being assembled (several for a
// multi-extent file) and a slab the entries' single extents are cut from,
// one allocation for many files. Both are reused across a directory.
type multi struct {
	recs []dirRecord
	exts []Extent
}

// extentSlab is how many single extents one slab allocation holds.
const extentSlab = 64

// finishFile turns the records of one entry into a node (nil = hidden).
func (t *isoTree) finishFile(m *multi, parent *isoDir) *Node {
	r := &m.recs[0]
	var rr *rrInfo
	var rrv rrInfo // on the stack: one fewer allocation per entry
	if t.rr {
		rr = &rrv
		t.susp.parseInto(rr, r.systemUse, t.skip, r.offset)
		if rr.warn != "" {
			t.warn(rr.warn)
		}
		if rr.relocated {
			return nil // shown at its original place through the CL link
		}
	}
	n := &Node{}
	switch {
	case rr != nil && rr.hasName && CheckName(rr.name.String()) == nil:
		n.Name = rr.name.String()
	case t.joliet:
		n.Name = core.PathElement(jolietName(r.ident, r.isDir()))
	default:
		n.Name = core.PathElement(plainName(r.ident, r.isDir()))
	}
	if r.bothEndErr {
		t.warn(fmt.Sprintf("isofmt: %q: directory record at byte %d: both-endian extent/size copies disagree; using little-endian", n.Name, r.offset))
	}
	st := &n.Stat
	st.Location = r.offset
	st.ModTime = r.recorded
	st.Hidden = r.flags&flagHidden != 0
	st.Nlink = 1

	isDir := r.isDir()
	dirLBA, dirSize := r.extLBA+uint32(r.earLen), r.dataLen
	if rr != nil && rr.hasCL {
		// A relocated deep directory: the real one lives at the CL block.
		isDir = true
		dirLBA = rr.childLBA
		if dot, err := t.readDot(dirLBA); err != nil {
			n.Err = err
			dirSize = 0
		} else {
			dirSize = dot.dataLen
			if crr := t.susp.parse(dot.systemUse, t.skip, dot.offset); crr.hasPX {
				rr.mode, rr.nlink, rr.uid, rr.gid, rr.hasPX = crr.mode, crr.nlink, crr.uid, crr.gid, true
			}
		}
	}
	if isDir {
		st.Mode = fs.ModeDir | 0o555
		st.Inode = t.dirIno(dirLBA)
		st.Size = int64(dirSize)
		n.Ref = &isoDir{lba: dirLBA, size: dirSize}
		if n.Err == nil {
			n.Err = t.claim(dirLBA, parent.lba, n.Name)
		}
	} else {
		st.Mode = 0o444
		st.Inode = uint64(r.offset) / 32
		if len(m.recs) == 1 && m.recs[0].unitSize == 0 && m.recs[0].dataLen > 0 {
			// The common case, one plain extent: cut it from the slab,
			// capacity-limited so that an append copies it away.
			if len(m.exts) == cap(m.exts) {
				m.exts = make([]Extent, 0, extentSlab)
			}
			m.exts = append(m.exts, Extent{Offset: int64(r.extLBA+uint32(r.earLen)) * t.blockSize, Length: int64(r.dataLen)})
			k := len(m.exts)
			st.Extents = m.exts[k-1 : k : k]
		} else {
			for i := range m.recs {
				t.appendExtents(st, &m.recs[i])
			}
		}
		st.Size = st.StoredSize()
	}
	if rr != nil {
		t.applyRR(n, rr)
	}
	if st.Inode == 0 {
		st.Inode = 1
	}
	return n
}

// appendExtents adds the data of one record, expanding interleaving.
func (t *isoTree) appendExtents(st *Stat, r *dirRecord) {
	if r.dataLen == 0 {
		return
	}
	off := int64(r.extLBA+uint32(r.earLen)) * t.blockSize
	left := int64(r.dataLen)
	if r.unitSize == 0 {
		st.Extents = append(st.Extents, Extent{Offset: off, Length: left})
		return
	}
	unit := int64(r.unitSize) * t.blockSize
	gap := int64(r.gapSize) * t.blockSize
	for left > 0 && len(st.Extents) < MaxExtentsPerFile {
		n := min(unit, left)
		st.Extents = append(st.Extents, Extent{Offset: off, Length: n})
		left -= n
		off += unit + gap
	}
}

// applyRR overlays Rock Ridge attributes on a node.
func (t *isoTree) applyRR(n *Node, rr *rrInfo) {
	st := &n.Stat
	if rr.hasPX {
		fm := FileModeFromUnix(rr.mode)
		if st.Mode.IsDir() != fm.IsDir() {
			// PX contradicts the record's directory flag: trust the record.
			t.warn(fmt.Sprintf("isofmt: %q: Rock Ridge mode %o contradicts the directory flag", n.Name, rr.mode))
		} else {
			st.Mode = fm
			st.HasPerm = true
		}
		st.UID, st.GID, st.HasOwner = rr.uid, rr.gid, true
		if rr.nlink > 0 {
			st.Nlink = rr.nlink
		}
		if !st.Mode.IsDir() && st.Nlink > 1 {
			switch {
			case rr.hasSerial && rr.serial != 0:
				st.Inode = inoSerialBase | uint64(rr.serial)
			case len(st.Extents) > 0:
				st.Inode = inoExtentBase | uint64(st.Extents[0].Offset/t.blockSize)
			}
		}
	}
	if !rr.mtime.IsZero() {
		st.ModTime = rr.mtime
	}
	st.AccessTime, st.ChangeTime, st.BirthTime = rr.atime, rr.ctime, rr.btime
	switch {
	case st.Mode&fs.ModeSymlink != 0:
		st.Target = rr.target.String()
		if rr.slTooBig {
			// Never hand out a cut-short target as if it were the link.
			st.Target = ""
			n.Err = formatErr("rock ridge symlink", st.Location, ErrLimit, "target longer than %d bytes", MaxLinkLen)
		}
		st.Size = int64(len(st.Target))
		st.Extents = nil
	case st.Mode&fs.ModeDevice != 0:
		st.Rdev = rr.rdev
		st.Size = 0
		st.Extents = nil
	}
	if rr.zf != nil && st.Mode.IsRegular() {
		z := rr.zf
		if z.BlockShift < 15 || z.BlockShift > 17 || z.HeaderSize < 4 {
			t.warn(fmt.Sprintf("isofmt: %q: zisofs block size 2^%d / header %d words not supported; showing compressed bytes", n.Name, z.BlockShift, z.HeaderSize))
		} else {
			st.Zisofs = z
			st.Size = z.RealSize
		}
	}
}

// claim records parentLBA as the owner of the directory at lba. In a tree
// every directory has exactly one parent; a directory extent listed by a
// second parent (or by itself) could close a cycle, so that reference is
// listed but cannot be read. Owners are claimed in discovery order from the
// root, so the accepted parent links always lead back to the root. (The ".."
// records cannot be used for this: xorriso's Joliet directories point ".."
// at themselves.)
func (t *isoTree) claim(lba, parentLBA uint32, name string) error {
	t.ownMu.Lock()
	defer t.ownMu.Unlock()
	if t.owners == nil {
		t.owners = map[uint32]uint32{t.rootRec.extLBA + uint32(t.rootRec.earLen): noOwner}
	}
	owner, ok := t.owners[lba]
	if !ok {
		if len(t.owners) >= maxDirectories {
			return formatErr("directory", int64(lba)*t.blockSize, ErrLimit, "%q: more than %d directories", name, maxDirectories)
		}
		t.owners[lba] = parentLBA
		return nil
	}
	if owner == parentLBA {
		return nil
	}
	if owner == noOwner {
		return formatErr("directory", int64(lba)*t.blockSize, ErrCorrupt, "%q points back at the root directory (cycle)", name)
	}
	return formatErr("directory", int64(lba)*t.blockSize, ErrCorrupt,
		"%q: this directory extent already belongs to the directory at block %d (a second reference could form a cycle)", name, owner)
}

// hideRRMoved drops the relocation directory when all it holds are
// relocated entries (which are shown at their original places).
func (t *isoTree) hideRRMoved(nodes []*Node) []*Node {
	for i, n := range nodes {
		if !n.IsDir() || !strings.EqualFold(strings.TrimPrefix(n.Name, "."), "rr_moved") || n.Err != nil {
			continue
		}
		kids, err := t.ReadDir(n)
		if err == nil && len(kids) == 0 {
			return append(nodes[:i:i], nodes[i+1:]...)
		}
	}
	return nodes
}
