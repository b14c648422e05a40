package udf

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"sort"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// FID characteristics (ECMA-167 4/14.4.3).
const (
	fidHidden   = 1
	fidDir      = 2
	fidDeleted  = 4
	fidParent   = 8
	fidMetadata = 16
)

// dirRef is the private Ref of a directory node: its file entry and the
// chain of directories it was reached through, for loop detection.
type dirRef struct {
	vol    *Volume
	key    uint64 // ICB address, as used for the inode
	fe     *fileEntry
	parent *dirRef
	depth  int
}

// icbKey derives the inode from an ICB address: partition map index and
// block, so every FID naming one ICB (hard links) yields the same number.
func (v *Volume) icbKey(a longAD) uint64 {
	return (uint64(v.refIndex(a.ref))<<32 | uint64(a.lbn)) + 1
}

// Root returns the root directory of the file set, named "." like the
// other trees' roots.
func (v *Volume) Root() (*core.Node, error) {
	n := v.makeNode(".", v.root, false, true, nil)
	if n.Err != nil {
		return nil, n.Err
	}
	if !n.IsDir() {
		return nil, core.Errorf("udf root directory", n.Stat.Location, core.ErrCorrupt, "root ICB is not a directory")
	}
	return n, nil
}

// makeNode reads the file entry a FID points to and fills the node. Damage
// to one entry is reported on the node (Err) rather than failing the whole
// directory listing.
func (v *Volume) makeNode(name string, icb longAD, hidden, fidIsDir bool, parent *dirRef) *core.Node {
	n := &core.Node{Name: name}
	st := &n.Stat
	st.Inode = v.icbKey(icb)
	st.Hidden = hidden
	st.Nlink = 1
	st.Location = -1
	fe, err := v.readFE(icb.ref, icb.lbn)
	if err != nil {
		st.Mode = 0
		if fidIsDir {
			st.Mode = fs.ModeDir
		}
		n.Err = err
		return n
	}
	st.Location = fe.off
	st.Size = int64(fe.size)
	st.Mode = modeOf(fe)
	st.HasPerm = true
	// 0xFFFFFFFF is UDF's "no owner recorded" (Windows writes it): never
	// shown as a number (it is uid -1); Stat.Owner substitutes the user's.
	if fe.uid != 0xFFFFFFFF && fe.gid != 0xFFFFFFFF {
		st.UID, st.GID, st.HasOwner = fe.uid, fe.gid, true
	}
	st.ModTime, st.AccessTime, st.ChangeTime, st.BirthTime = fe.mtime, fe.atime, fe.ctime, fe.btime
	links := uint32(fe.links)
	if links == 0 {
		links = 1
	}
	if fe.typ == ftDir {
		links++ // POSIX counts "." too; UDF counts only FIDs naming the directory
	}
	st.Nlink = links
	if fidIsDir != (fe.typ == ftDir) {
		v.warnf("udf: %q: directory flag of its FID disagrees with file type %d at byte %d", name, fe.typ, fe.off)
	}
	st.Extents, err = v.dataExtents(fe)
	if err != nil {
		n.Err = err
		return n
	}
	switch fe.typ {
	case ftDir:
		d := &dirRef{vol: v, key: st.Inode, fe: fe, parent: parent}
		if parent != nil {
			d.depth = parent.depth + 1
		}
		n.Ref = d
		for a := parent; a != nil; a = a.parent {
			if a.key == d.key {
				n.Err = core.Errorf("udf directory", fe.off, core.ErrCorrupt, "%q is its own ancestor (ICB partition %d block %d): directory loop", name, icb.ref, icb.lbn)
				break
			}
		}
		if n.Err == nil && d.depth >= maxDepth {
			n.Err = core.Errorf("udf directory", fe.off, core.ErrLimit, "%q nested deeper than %d directories", name, maxDepth)
		}
	case ftSymlink:
		if fe.size > maxSymlinkSize {
			n.Err = core.Errorf("udf symbolic link", fe.off, core.ErrLimit, "%d bytes of path components", fe.size)
			break
		}
		b, err := v.readExtents(st.Extents, int64(fe.size))
		if err == nil {
			st.Target, err = symlinkTarget(b)
		}
		if err != nil {
			n.Err = core.Errorf("udf symbolic link", fe.off, core.ErrCorrupt, "%v", err)
		}
	case ftBlock, ftChar:
		if maj, min, ok := v.deviceSpec(fe); ok {
			st.Rdev = uint64(maj)<<32 | uint64(min)
		}
	}
	return n
}

// modeOf converts the ICB file type and UDF permissions to a FileMode.
func modeOf(fe *fileEntry) fs.FileMode {
	var m fs.FileMode
	switch fe.typ {
	case ftDir:
		m = fs.ModeDir
	case ftSymlink:
		m = fs.ModeSymlink
	case ftBlock:
		m = fs.ModeDevice
	case ftChar:
		m = fs.ModeDevice | fs.ModeCharDevice
	case ftFIFO:
		m = fs.ModeNamedPipe
	case ftSocket:
		m = fs.ModeSocket
	}
	p := fe.perm
	// UDF groups five bits per class (execute, write, read, change attribute, delete).
	for i, class := range []uint{10, 5, 0} {
		bits := (p >> class) & 7
		shift := uint(6 - 3*i)
		if bits&4 != 0 {
			m |= 4 << shift
		}
		if bits&2 != 0 {
			m |= 2 << shift
		}
		if bits&1 != 0 {
			m |= 1 << shift
		}
	}
	if fe.flags&0x40 != 0 {
		m |= fs.ModeSetuid
	}
	if fe.flags&0x80 != 0 {
		m |= fs.ModeSetgid
	}
	if fe.flags&0x100 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// deviceSpec finds the device specification extended attribute (ECMA-167
// 4/14.10.7) of a device file.
func (v *Volume) deviceSpec(fe *fileEntry) (uint32, uint32, bool) {
	ea := fe.ea
	if len(ea) < 24 {
		return 0, 0, false
	}
	if _, err := checkTag(ea[:24], tagEAHD, fe.lbn, "udf extended attribute header", fe.off); err != nil {
		return 0, 0, false
	}
	end := int(binary.LittleEndian.Uint32(ea[16:]))
	if end > len(ea) || end < 24 {
		end = len(ea)
	}
	for pos := 24; pos+12 <= end; {
		typ := binary.LittleEndian.Uint32(ea[pos:])
		l := int(binary.LittleEndian.Uint32(ea[pos+8:]))
		if l < 12 || l > end-pos {
			return 0, 0, false
		}
		if typ == 12 && l >= 24 {
			return binary.LittleEndian.Uint32(ea[pos+16:]), binary.LittleEndian.Uint32(ea[pos+20:]), true
		}
		pos += l
	}
	return 0, 0, false
}

// ReadDir lists dir (a node from Root or ReadDir of this volume) without
// "." and "..", in on-disk order. Deleted entries are skipped; hidden ones
// are returned with Stat.Hidden set.
func (v *Volume) ReadDir(dir *core.Node) ([]*core.Node, error) {
	if dir == nil {
		return nil, errors.New("udf: ReadDir of a nil node")
	}
	if dir.Err != nil {
		return nil, dir.Err
	}
	d, ok := dir.Ref.(*dirRef)
	if !ok || d.vol != v {
		return nil, &fs.PathError{Op: "readdir", Path: dir.Name, Err: errors.New("udf: not a directory of this volume")}
	}
	fe := d.fe
	structure := "udf directory"
	if fe.size > maxDirSize {
		return nil, core.Errorf(structure, fe.off, core.ErrLimit, "%d bytes (limit %d)", fe.size, maxDirSize)
	}
	ps, err := v.pieces(fe)
	if err != nil {
		return nil, err
	}
	// Read the directory stream, remembering where each piece starts so a
	// FID's tag location can be checked against the block it sits in.
	type seg struct {
		start    int
		ref      uint16
		lbn      uint32
		embedded bool
	}
	var segs []seg
	var buf []byte
	remain := int64(fe.size)
	for _, pc := range ps {
		if remain <= 0 {
			break
		}
		n := min(pc.length, remain)
		var b []byte
		switch {
		case pc.embedded:
			b, err = v.read(pc.off, int(n), structure)
		case pc.sparse:
			err = core.Errorf(structure, fe.off, core.ErrCorrupt, "unrecorded extent in directory data (logical block %d)", fe.lbn)
		default:
			var ext []core.Extent
			if ext, err = v.mapRange(pc.ref, pc.lbn, n, false, nil); err == nil {
				b, err = v.readExtents(ext, n)
			}
		}
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg{start: len(buf), ref: pc.ref, lbn: pc.lbn, embedded: pc.embedded})
		buf = append(buf, b...)
		remain -= n
	}
	if remain > 0 {
		v.warnf("udf: directory at byte %d: %d bytes of its length are not allocated", fe.off, remain)
	}
	var out []*core.Node
	for pos := 0; pos < len(buf); {
		rest := buf[pos:]
		if len(rest) < 38 {
			if isZero(rest) {
				break
			}
			return nil, core.Errorf("udf file identifier descriptor", fe.off, core.ErrCorrupt, "truncated at directory offset %d", pos)
		}
		si := sort.Search(len(segs), func(i int) bool { return segs[i].start > pos }) - 1
		s := segs[si]
		loc := s.lbn
		if !s.embedded {
			loc += uint32(int64(pos-s.start) / v.bs)
		}
		lfi, liu := int(rest[19]), int(binary.LittleEndian.Uint16(rest[36:]))
		if 38+liu+lfi > len(rest) {
			return nil, core.Errorf("udf file identifier descriptor", fe.off, core.ErrCorrupt, "identifier runs past the directory at offset %d (logical block %d)", pos, loc)
		}
		flen := min((38+liu+lfi+3)&^3, len(rest))
		if _, err := checkTag(rest[:flen], tagFID, loc, "udf file identifier descriptor", fe.off); err != nil {
			return nil, err
		}
		flags := rest[18]
		icb := parseLongAD(rest[20:36])
		ident := rest[38+liu : 38+liu+lfi]
		pos += flen
		if flags&(fidDeleted|fidParent|fidMetadata) != 0 {
			continue
		}
		if icb.length() == 0 {
			v.warnf("udf: directory at byte %d: entry at offset %d has no ICB", fe.off, pos-flen)
			continue
		}
		name, err := fileName(ident)
		if err != nil || name == "" {
			// The name is unusable but the file is not: give it a stable synthetic one.
			name = "udf-unnamed-" + itoa(v.icbKey(icb))
			v.warnf("udf: directory at byte %d: entry at offset %d has an invalid name; listed as %s", fe.off, pos-flen, name)
		}
		if len(out) >= maxFIDs {
			return nil, core.Errorf(structure, fe.off, core.ErrLimit, "more than %d entries", maxFIDs)
		}
		out = append(out, v.makeNode(name, icb, flags&fidHidden != 0, flags&fidDir != 0, d))
	}
	return out, nil
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
