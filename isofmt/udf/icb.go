package udf

import (
	"encoding/binary"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// ICB file types (ECMA-167 4/14.6.6, UDF 2.3.5.2).
const (
	ftUnspecified = 0
	ftIE          = 3
	ftDir         = 4
	ftFile        = 5
	ftBlock       = 6
	ftChar        = 7
	ftFIFO        = 9
	ftSocket      = 10
	ftTE          = 11
	ftSymlink     = 12
	ftStreamDir   = 13
)

// fileEntry is the part of a file entry or extended file entry the reader uses.
type fileEntry struct {
	off      int64  // image byte offset of the entry
	ref      uint16 // partition reference and block of the entry
	lbn      uint32
	efe      bool
	typ      uint8
	strategy uint16
	flags    uint16
	uid, gid uint32
	perm     uint32
	links    uint16
	size     uint64
	atime    core.Timestamp
	mtime    core.Timestamp
	ctime    core.Timestamp // attribute time
	btime    core.Timestamp // creation time (EFE only)
	ea       []byte
	ad       []byte
	adOff    int64 // image byte offset of the allocation descriptors (embedded data)
}

func (fe *fileEntry) adType() int { return int(fe.flags & 7) }

// parseFE decodes a FE or EFE whose tag was already checked.
func (v *Volume) parseFE(b []byte, off int64, ref uint16, lbn uint32) (*fileEntry, error) {
	id := binary.LittleEndian.Uint16(b)
	fe := &fileEntry{off: off, ref: ref, lbn: lbn, efe: id == tagEFE}
	fe.strategy = binary.LittleEndian.Uint16(b[20:])
	fe.typ = b[27]
	fe.flags = binary.LittleEndian.Uint16(b[34:])
	fe.uid = binary.LittleEndian.Uint32(b[36:])
	fe.gid = binary.LittleEndian.Uint32(b[40:])
	fe.perm = binary.LittleEndian.Uint32(b[44:])
	fe.links = binary.LittleEndian.Uint16(b[48:])
	fe.size = binary.LittleEndian.Uint64(b[56:])
	var hdr int
	var lea, lad uint32
	if fe.efe {
		hdr = 216
		fe.atime = timestamp(b[80:])
		fe.mtime = timestamp(b[92:])
		fe.btime = timestamp(b[104:])
		fe.ctime = timestamp(b[116:])
		lea = binary.LittleEndian.Uint32(b[208:])
		lad = binary.LittleEndian.Uint32(b[212:])
	} else {
		hdr = 176
		fe.atime = timestamp(b[72:])
		fe.mtime = timestamp(b[84:])
		fe.ctime = timestamp(b[96:])
		lea = binary.LittleEndian.Uint32(b[168:])
		lad = binary.LittleEndian.Uint32(b[172:])
	}
	structure := "udf " + tagName(id)
	if int64(lea) > int64(len(b)-hdr) || int64(lad) > int64(len(b)-hdr)-int64(lea) {
		return nil, core.Errorf(structure, off, core.ErrCorrupt, "extended attributes (%d bytes) and allocation descriptors (%d bytes) run past the block (logical block %d)", lea, lad, lbn)
	}
	if fe.size > 1<<62 {
		return nil, core.Errorf(structure, off, core.ErrCorrupt, "information length %d (logical block %d)", fe.size, lbn)
	}
	fe.ea = b[hdr : hdr+int(lea)]
	fe.ad = b[hdr+int(lea) : hdr+int(lea)+int(lad)]
	fe.adOff = off + int64(hdr) + int64(lea)
	return fe, nil
}

// readFE reads the file entry an ICB address points to, following
// indirect entries and the ICB strategy 4096 chain (newest entry wins).
func (v *Volume) readFE(ref uint16, lbn uint32) (*fileEntry, error) {
	var best *fileEntry
	for hop := 0; ; hop++ {
		if hop > maxIndirect {
			if best != nil {
				return best, nil
			}
			return nil, core.Errorf("udf indirect entry", -1, core.ErrLimit, "more than %d indirect entries from partition %d block %d", maxIndirect, ref, lbn)
		}
		b, off, err := v.readDesc(ref, lbn, 0, "udf file entry")
		if err != nil {
			if best != nil {
				return best, nil // a strategy 4096 successor that is not there: keep the last good entry
			}
			return nil, err
		}
		switch binary.LittleEndian.Uint16(b) {
		case tagFE, tagEFE:
			fe, err := v.parseFE(b, off, ref, lbn)
			if err != nil {
				if best != nil {
					return best, nil
				}
				return nil, err
			}
			if fe.strategy != 4096 {
				return fe, nil
			}
			best = fe
			// Strategy 4096: the block after a direct entry may hold an
			// indirect entry leading to a newer one.
			nb, _, err := v.readDesc(ref, lbn+1, tagIE, "udf indirect entry")
			if err != nil {
				return best, nil
			}
			next := parseLongAD(nb[36:])
			if next.length() == 0 {
				return best, nil
			}
			ref, lbn = next.ref, next.lbn
		case tagIE:
			next := parseLongAD(b[36:])
			if next.length() == 0 {
				return nil, core.Errorf("udf indirect entry", off, core.ErrCorrupt, "empty indirect ICB (logical block %d)", lbn)
			}
			ref, lbn = next.ref, next.lbn
		case tagTE:
			if best != nil {
				return best, nil
			}
			return nil, core.Errorf("udf file entry", off, core.ErrCorrupt, "terminal entry instead of a file entry (logical block %d)", lbn)
		default:
			if best != nil {
				return best, nil
			}
			return nil, core.Errorf("udf file entry", off, core.ErrCorrupt, "%s instead of a file entry (logical block %d)", tagName(binary.LittleEndian.Uint16(b)), lbn)
		}
	}
}

// piece is one allocation descriptor resolved to a partition address.
type piece struct {
	ref      uint16
	lbn      uint32
	length   int64
	sparse   bool  // not recorded or not allocated: reads as zeros
	embedded bool  // data inside the file entry, at off
	off      int64 // image offset of embedded data
}

// pieces decodes a file entry's allocation descriptors, following
// allocation extent descriptor chains.
func (v *Volume) pieces(fe *fileEntry) ([]piece, error) {
	structure := "udf allocation descriptors"
	if fe.adType() == 3 {
		return []piece{{ref: fe.ref, lbn: fe.lbn, length: int64(len(fe.ad)), embedded: true, off: fe.adOff}}, nil
	}
	var size int
	switch fe.adType() {
	case 0:
		size = 8
	case 1:
		size = 16
	case 2:
		size = 20
	default:
		return nil, core.Errorf(structure, fe.off, core.ErrCorrupt, "allocation descriptor type %d (logical block %d)", fe.adType(), fe.lbn)
	}
	var out []piece
	ad, adRef := fe.ad, fe.ref
	hops := 0
	visited := map[[2]uint32]bool{}
	for {
		next := false
		for len(ad) >= size {
			raw := binary.LittleEndian.Uint32(ad)
			length := int64(raw & 0x3FFFFFFF)
			typ := raw >> 30
			var pc piece
			switch size {
			case 8:
				pc = piece{ref: adRef, lbn: binary.LittleEndian.Uint32(ad[4:])}
			case 16:
				l := parseLongAD(ad)
				pc = piece{ref: l.ref, lbn: l.lbn}
			case 20:
				pc = piece{lbn: binary.LittleEndian.Uint32(ad[12:]), ref: binary.LittleEndian.Uint16(ad[16:])}
			}
			ad = ad[size:]
			if length == 0 {
				ad = nil // an empty extent ends the list
				break
			}
			pc.length = length
			if typ == 3 {
				// Continuation: the rest of the list is in an allocation extent descriptor.
				if hops++; hops > maxAEDChain {
					return nil, core.Errorf(structure, fe.off, core.ErrLimit, "more than %d allocation extent descriptors", maxAEDChain)
				}
				key := [2]uint32{uint32(pc.ref), pc.lbn}
				if visited[key] {
					return nil, core.Errorf(structure, fe.off, core.ErrCorrupt, "allocation extent descriptor chain loops at partition %d block %d", pc.ref, pc.lbn)
				}
				visited[key] = true
				b, off, err := v.readDesc(pc.ref, pc.lbn, tagAED, "udf allocation extent descriptor")
				if err != nil {
					return nil, err
				}
				l := int64(binary.LittleEndian.Uint32(b[20:]))
				if l > int64(len(b)-24) || l > length {
					return nil, core.Errorf("udf allocation extent descriptor", off, core.ErrCorrupt, "descriptor length %d runs past the block (logical block %d)", l, pc.lbn)
				}
				ad, adRef = b[24:24+l], pc.ref
				next = true
				break
			}
			pc.sparse = typ != 0
			if len(out) >= maxExtents {
				return nil, core.Errorf(structure, fe.off, core.ErrLimit, "more than %d extents", maxExtents)
			}
			out = append(out, pc)
		}
		if !next {
			return out, nil
		}
	}
}

// dataExtents maps a file's allocation to image extents covering exactly
// its information length. Allocation beyond the length is dropped;
// information past the allocation reads as zeros (the writer did not
// record it).
func (v *Volume) dataExtents(fe *fileEntry) ([]core.Extent, error) {
	ps, err := v.pieces(fe)
	if err != nil {
		return nil, err
	}
	remain := int64(fe.size)
	var out []core.Extent
	for _, pc := range ps {
		if remain <= 0 {
			break
		}
		n := min(pc.length, remain)
		// Each allocation descriptor stays its own extent (a > 4 GiB file
		// shows its < 1 GiB runs), though a descriptor split by sparing or
		// a virtual/metadata mapping yields several.
		var one []core.Extent
		switch {
		case pc.embedded:
			one = []core.Extent{{Offset: pc.off, Length: n}}
		case pc.sparse:
			one = []core.Extent{{Length: n, Sparse: true}}
		default:
			one, err = v.mapRange(pc.ref, pc.lbn, n, false, nil)
		}
		if err != nil {
			return nil, err
		}
		if len(out)+len(one) > maxExtents {
			return nil, core.Errorf("udf allocation descriptors", fe.off, core.ErrLimit, "more than %d extents", maxExtents)
		}
		out = append(out, one...)
		remain -= n
	}
	if remain > 0 {
		out = append(out, core.Extent{Length: remain, Sparse: true})
	}
	return out, nil
}

// readExtents reads up to limit bytes of data described by ext.
func (v *Volume) readExtents(ext []core.Extent, limit int64) ([]byte, error) {
	var total int64
	for _, e := range ext {
		total += e.Length
	}
	if total > limit {
		total = limit
	}
	// Grow with what was really read rather than trusting the claimed total.
	var out []byte
	for _, e := range ext {
		if int64(len(out)) >= total {
			break
		}
		n := min(e.Length, total-int64(len(out)))
		if e.Sparse {
			out = append(out, make([]byte, n)...)
			continue
		}
		b, err := v.read(e.Offset, int(n), "udf file data")
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
