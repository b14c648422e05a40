package udf

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// longAD is a long allocation descriptor (ECMA-167 4/14.14.2): an extent
// in any partition of the logical volume.
type longAD struct {
	raw uint32 // extent length with the 2-bit extent type on top
	lbn uint32
	ref uint16
}

func parseLongAD(b []byte) longAD {
	return longAD{raw: binary.LittleEndian.Uint32(b), lbn: binary.LittleEndian.Uint32(b[4:]), ref: binary.LittleEndian.Uint16(b[8:])}
}

func (a longAD) length() uint32 { return a.raw & 0x3FFFFFFF }

// Partition kinds.
const (
	kindPhysical = "physical"
	kindSparable = "sparable"
	kindVirtual  = "virtual"
	kindMetadata = "metadata"
	kindUnknown  = "unknown"
)

type sparingEntry struct{ orig, mapped uint32 }

// partition is one partition map resolved to what translating a logical
// block needs.
type partition struct {
	kind   string
	number uint16
	// start and length are the underlying partition descriptor's extent in blocks.
	start, length uint32
	// under is the map index of the physical/sparable map a virtual or metadata partition lives on.
	under uint16
	// Sparable: packet length in blocks, and remapped packets sorted by orig.
	packet  uint32
	sparing []sparingEntry
	// Virtual: the VAT (virtual block → block of the underlying partition).
	vat []uint32
	// Metadata: the metadata file's and its mirror's allocation (in the underlying partition).
	meta, mirror []piece
	// metaStarts and mirrorStarts hold each piece's offset in the file, for binary search.
	metaStarts, mirrorStarts []int64
	// bad is set for maps that could not be resolved; using them fails with it.
	bad error
}

// partition returns the map for a partition reference number. UDF says the
// reference is the map index, but some writers put the partition number
// there (Windows' 8192); such a reference is resolved by number when it is
// unambiguous.
func (v *Volume) partition(ref uint16) (*partition, error) {
	if int(ref) < len(v.parts) {
		p := v.parts[ref]
		if p.bad != nil {
			return nil, p.bad
		}
		return p, nil
	}
	var found *partition
	for _, p := range v.parts {
		if p.number == ref && p.kind != kindMetadata {
			if found != nil {
				found = nil
				break
			}
			found = p
		}
	}
	if found != nil && found.bad == nil {
		return found, nil
	}
	return nil, core.Errorf("udf allocation descriptor", -1, core.ErrCorrupt, "partition reference %d out of range (%d partition maps)", ref, len(v.parts))
}

func (v *Volume) refIndex(ref uint16) uint16 {
	if int(ref) < len(v.parts) {
		return ref
	}
	for i, p := range v.parts {
		if p.number == ref && p.kind != kindMetadata {
			return uint16(i)
		}
	}
	return ref
}

// loadPartitions parses the LVD's partition maps and resolves each one.
func (v *Volume) loadPartitions(s *vdsSet) error {
	lvd := s.lvd
	mtl := binary.LittleEndian.Uint32(lvd[264:])
	nmaps := binary.LittleEndian.Uint32(lvd[268:])
	if nmaps == 0 {
		return core.Errorf("udf logical volume descriptor", -1, core.ErrCorrupt, "no partition maps")
	}
	if nmaps > maxPartitionMaps {
		return core.Errorf("udf logical volume descriptor", -1, core.ErrLimit, "%d partition maps (limit %d)", nmaps, maxPartitionMaps)
	}
	if int64(mtl) > int64(len(lvd)-440) {
		return core.Errorf("udf logical volume descriptor", -1, core.ErrCorrupt, "partition map table length %d runs past the descriptor", mtl)
	}
	m := lvd[440 : 440+mtl]
	pdFor := func(num uint16) []byte {
		if pd, ok := s.pds[num]; ok {
			return pd
		}
		if len(s.pds) == 1 {
			v.warnf("udf: no partition descriptor numbered %d; using partition %d, the only one", num, s.pdOrder[0])
			return s.pds[s.pdOrder[0]]
		}
		return nil
	}
	for i := uint32(0); i < nmaps; i++ {
		if len(m) < 2 || int(m[1]) < 2 || int(m[1]) > len(m) {
			return core.Errorf("udf partition map", -1, core.ErrCorrupt, "map %d: bad length", i)
		}
		typ, l := m[0], int(m[1])
		pm := m[:l]
		m = m[l:]
		p := &partition{kind: kindUnknown}
		info := PartitionMapInfo{Type: kindUnknown}
		switch {
		case typ == 1 && l >= 6:
			p.kind = kindPhysical
			info.VolumeSequenceNumber = binary.LittleEndian.Uint16(pm[2:])
			p.number = binary.LittleEndian.Uint16(pm[4:])
		case typ == 2 && l >= 40:
			info.VolumeSequenceNumber = binary.LittleEndian.Uint16(pm[36:])
			p.number = binary.LittleEndian.Uint16(pm[38:])
			switch regidIdent(pm[4:36]) {
			case "*UDF Virtual Partition":
				p.kind = kindVirtual
			case "*UDF Sparable Partition":
				p.kind = kindSparable
			case "*UDF Metadata Partition":
				p.kind = kindMetadata
			default:
				p.bad = core.Errorf("udf partition map", -1, core.ErrUnsupported, "map %d: type 2 map %q", i, regidIdent(pm[4:36]))
			}
		default:
			p.bad = core.Errorf("udf partition map", -1, core.ErrUnsupported, "map %d: type %d, length %d", i, typ, l)
		}
		info.Type = p.kind
		info.PartitionNumber = p.number
		if p.bad == nil {
			pd := pdFor(p.number)
			if pd == nil {
				return core.Errorf("udf partition map", -1, core.ErrCorrupt, "map %d: no partition descriptor numbered %d", i, p.number)
			}
			p.start = binary.LittleEndian.Uint32(pd[188:])
			p.length = binary.LittleEndian.Uint32(pd[192:])
			if end := (int64(p.start) + int64(p.length)) * v.bs; end > v.size && (p.kind == kindPhysical || p.kind == kindSparable) {
				v.warnf("udf: partition %d ends at byte %d, past the %d-byte image", p.number, end, v.size)
			}
			info.Start, info.Length = int64(p.start)*v.bs, int64(p.length)*v.bs
			if end := info.Start + info.Length; end > v.info.LastAnchor && end <= v.size {
				v.info.LastAnchor = end
			}
			if v.info.PartitionLength == 0 {
				v.info.PartitionStart, v.info.PartitionLength = info.Start, info.Length
			}
		}
		if p.kind == kindSparable {
			if l < 48 {
				return core.Errorf("udf sparable partition map", -1, core.ErrCorrupt, "map %d too short", i)
			}
			p.packet = uint32(binary.LittleEndian.Uint16(pm[40:]))
			info.PacketLength = p.packet
			ntables, tsize := int(pm[42]), binary.LittleEndian.Uint32(pm[44:])
			if 48+4*ntables > l {
				return core.Errorf("udf sparable partition map", -1, core.ErrCorrupt, "map %d: %d sparing tables do not fit", i, ntables)
			}
			var locs []uint32
			for j := 0; j < ntables; j++ {
				locs = append(locs, binary.LittleEndian.Uint32(pm[48+4*j:]))
			}
			info.SparingTables = locs
			if err := v.loadSparing(p, locs, tsize); err != nil {
				p.bad = err
			}
			info.SparingEntries = len(p.sparing)
		}
		if p.kind == kindMetadata {
			if l < 56 {
				return core.Errorf("udf metadata partition map", -1, core.ErrCorrupt, "map %d too short", i)
			}
			info.MetadataFile = binary.LittleEndian.Uint32(pm[40:])
			info.MirrorFile = binary.LittleEndian.Uint32(pm[44:])
		}
		v.parts = append(v.parts, p)
		v.info.PartitionMaps = append(v.info.PartitionMaps, info)
	}
	// Virtual and metadata partitions live on a physical (or sparable) one
	// with the same partition number; resolve them once all maps are known.
	for i, p := range v.parts {
		if p.bad != nil || (p.kind != kindVirtual && p.kind != kindMetadata) {
			continue
		}
		under := -1
		for j, q := range v.parts {
			if q.number == p.number && (q.kind == kindPhysical || q.kind == kindSparable) && q.bad == nil {
				under = j
				break
			}
		}
		if under < 0 {
			p.bad = core.Errorf("udf partition map", -1, core.ErrCorrupt, "%s map %d has no physical partition numbered %d", p.kind, i, p.number)
			continue
		}
		p.under = uint16(under)
		info := &v.info.PartitionMaps[i]
		var err error
		if p.kind == kindVirtual {
			err = v.loadVAT(p)
			info.VATEntries = len(p.vat)
		} else {
			err = v.loadMetadata(p, info)
		}
		if err != nil {
			p.bad = err
			v.warnf("udf: %s partition map %d unusable: %v", p.kind, i, err)
		}
	}
	return nil
}

// loadSparing reads the first intact sparing table (UDF 2.2.12).
func (v *Volume) loadSparing(p *partition, locs []uint32, tsize uint32) error {
	if p.packet == 0 || p.packet&(p.packet-1) != 0 {
		return core.Errorf("udf sparable partition map", -1, core.ErrCorrupt, "packet length %d is not a power of two", p.packet)
	}
	var lastErr error = core.Errorf("udf sparing table", -1, core.ErrCorrupt, "no sparing table")
	for _, loc := range locs {
		off := int64(loc) * v.bs
		n := int64(tsize)
		if n < 56 || n > 56+8*65535 {
			lastErr = core.Errorf("udf sparing table", off, core.ErrCorrupt, "size %d out of range", tsize)
			continue
		}
		b, err := v.read(off, int(n), "udf sparing table")
		if err != nil {
			lastErr = err
			continue
		}
		t := parseTag(b)
		if need := tagSize + int(t.CRCLen); need > len(b) && need <= 56+8*65535 {
			if b, err = v.read(off, need, "udf sparing table"); err != nil {
				lastErr = err
				continue
			}
		}
		// The sparing table's tag identifier is 0 (UDF 2.2.12).
		if _, err := checkTag(b, 0, loc, "udf sparing table", off); err != nil {
			lastErr = err
			continue
		}
		if t.ID != 0 || regidIdent(b[16:48]) != "*UDF Sparing Table" {
			lastErr = core.Errorf("udf sparing table", off, core.ErrCorrupt, "bad identifier")
			continue
		}
		cnt := int(binary.LittleEndian.Uint16(b[48:]))
		if 56+8*cnt > len(b) {
			lastErr = core.Errorf("udf sparing table", off, core.ErrCorrupt, "%d entries do not fit", cnt)
			continue
		}
		p.sparing = p.sparing[:0]
		for i := 0; i < cnt; i++ {
			o := binary.LittleEndian.Uint32(b[56+8*i:])
			if o >= 0xFFFFFFF0 {
				continue // available or defective spare
			}
			p.sparing = append(p.sparing, sparingEntry{orig: o &^ (p.packet - 1), mapped: binary.LittleEndian.Uint32(b[60+8*i:])})
		}
		sort.Slice(p.sparing, func(i, j int) bool { return p.sparing[i].orig < p.sparing[j].orig })
		return nil
	}
	return lastErr
}

// loadVAT finds the virtual allocation table: its ICB is the last recorded
// block of the (last session of the) medium, which for an image file is its
// end. Both the UDF 1.50 (file type 0, trailing identifier) and 2.00+ (file
// type 248, leading header) forms are read.
func (v *Volume) loadVAT(p *partition) error {
	n := v.size / v.bs
	u := v.parts[p.under]
	var lastErr error = core.Errorf("udf virtual allocation table", -1, core.ErrCorrupt, "no VAT file entry in the last %d blocks", maxVATSearch)
	for i := int64(1); i <= maxVATSearch && n-i >= int64(u.start); i++ {
		lbn := n - i - int64(u.start)
		if lbn > 0xFFFFFFFF {
			continue
		}
		fe, err := v.readFE(p.under, uint32(lbn))
		if err != nil {
			continue
		}
		if fe.typ != 248 && fe.typ != 0 {
			continue
		}
		ext, err := v.dataExtents(fe)
		if err != nil {
			lastErr = err
			continue
		}
		for _, e := range ext {
			if e.Sparse {
				err = core.Errorf("udf virtual allocation table", fe.off, core.ErrCorrupt, "VAT has unrecorded extents")
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		if fe.size > maxVATSize {
			lastErr = core.Errorf("udf virtual allocation table", fe.off, core.ErrLimit, "%d bytes", fe.size)
			continue
		}
		data, err := v.readExtents(ext, int64(fe.size))
		if err != nil {
			lastErr = err
			continue
		}
		var entries []byte
		if fe.typ == 248 {
			if len(data) < 152 {
				lastErr = core.Errorf("udf virtual allocation table", fe.off, core.ErrCorrupt, "VAT shorter than its header")
				continue
			}
			hl := int(binary.LittleEndian.Uint16(data[0:]))
			if hl < 152 || hl > len(data) {
				lastErr = core.Errorf("udf virtual allocation table", fe.off, core.ErrCorrupt, "header length %d", hl)
				continue
			}
			entries = data[hl:]
		} else {
			if len(data) < 36 || regidIdent(data[len(data)-36:len(data)-4]) != "*UDF Virtual Alloc Tbl" {
				continue
			}
			entries = data[:len(data)-36]
		}
		// On a VAT medium the VAT's ICB is the last structure written.
		if end := (n - i + 1) * v.bs; end > v.info.LastAnchor {
			v.info.LastAnchor = end
		}
		p.vat = make([]uint32, len(entries)/4)
		for j := range p.vat {
			p.vat[j] = binary.LittleEndian.Uint32(entries[4*j:])
		}
		return nil
	}
	return lastErr
}

// loadMetadata reads the metadata file's allocation, falling back to the
// mirror file when the main one is damaged (UDF 2.2.10).
func (v *Volume) loadMetadata(p *partition, info *PartitionMapInfo) error {
	load := func(lbn uint32, want uint8) ([]piece, error) {
		fe, err := v.readFE(p.under, lbn)
		if err != nil {
			return nil, err
		}
		if fe.typ != want {
			return nil, core.Errorf("udf metadata file entry", fe.off, core.ErrCorrupt, "file type %d, want %d", fe.typ, want)
		}
		ps, err := v.pieces(fe)
		if err != nil {
			return nil, err
		}
		for k := range ps {
			if ps[k].embedded {
				return nil, core.Errorf("udf metadata file entry", fe.off, core.ErrCorrupt, "embedded metadata file")
			}
			if k < len(ps)-1 && ps[k].length%v.bs != 0 {
				return nil, core.Errorf("udf metadata file entry", fe.off, core.ErrCorrupt, "extent not a whole number of blocks")
			}
		}
		return ps, nil
	}
	var errMain, errMirror error
	p.meta, errMain = load(info.MetadataFile, 250)
	p.mirror, errMirror = load(info.MirrorFile, 251)
	switch {
	case errMain == nil && errMirror != nil:
		v.warnf("udf: metadata mirror file unusable: %v", errMirror)
	case errMain != nil && errMirror == nil:
		v.warnf("udf: metadata file damaged (%v); using the metadata mirror file", errMain)
		p.meta, p.mirror = p.mirror, nil
		info.UsingMirror = true
	case errMain != nil:
		return fmt.Errorf("metadata file: %w; mirror: %v", errMain, errMirror)
	}
	p.metaStarts, p.mirrorStarts = pieceStarts(p.meta), pieceStarts(p.mirror)
	return nil
}

// appendExtent appends a run, merging it with the previous one when contiguous.
func appendExtent(out []core.Extent, e core.Extent) ([]core.Extent, error) {
	if e.Length == 0 {
		return out, nil
	}
	if n := len(out); n > 0 {
		last := &out[n-1]
		if last.Sparse && e.Sparse {
			last.Length += e.Length
			return out, nil
		}
		if !last.Sparse && !e.Sparse && last.Offset+last.Length == e.Offset {
			last.Length += e.Length
			return out, nil
		}
	}
	if len(out) >= maxExtents {
		return out, core.Errorf("udf allocation descriptors", -1, core.ErrLimit, "more than %d extents", maxExtents)
	}
	return append(out, e), nil
}

// mapRange translates n bytes starting at logical block lbn of partition
// ref into image byte extents, appending to out. mirror selects the
// metadata mirror file for metadata partitions.
func (v *Volume) mapRange(ref uint16, lbn uint32, n int64, mirror bool, out []core.Extent) ([]core.Extent, error) {
	return v.mapRangeDepth(ref, lbn, n, mirror, out, 0)
}

func (v *Volume) mapRangeDepth(ref uint16, lbn uint32, n int64, mirror bool, out []core.Extent, depth int) ([]core.Extent, error) {
	if depth > 2 {
		return out, core.Errorf("udf partition map", -1, core.ErrCorrupt, "partitions nest too deeply")
	}
	p, err := v.partition(ref)
	if err != nil {
		return out, err
	}
	if n <= 0 {
		return out, nil
	}
	nblocks := (n + v.bs - 1) / v.bs
	if int64(lbn)+nblocks > int64(p.length) && p.kind != kindVirtual && p.kind != kindMetadata {
		return out, core.Errorf("udf extent", -1, core.ErrCorrupt, "blocks %d..%d lie past the end of partition %d (%d blocks)", lbn, int64(lbn)+nblocks-1, p.number, p.length)
	}
	switch p.kind {
	case kindPhysical:
		return appendExtent(out, core.Extent{Offset: (int64(p.start) + int64(lbn)) * v.bs, Length: n})
	case kindSparable:
		cur := int64(lbn)
		for n > 0 {
			pk := cur &^ int64(p.packet-1)
			i := sort.Search(len(p.sparing), func(i int) bool { return int64(p.sparing[i].orig) >= pk })
			var phys, blocks int64
			if i < len(p.sparing) && int64(p.sparing[i].orig) == pk {
				phys = int64(p.sparing[i].mapped) + cur - pk
				blocks = pk + int64(p.packet) - cur
			} else {
				phys = int64(p.start) + cur
				blocks = (n + v.bs - 1) / v.bs
				if i < len(p.sparing) && int64(p.sparing[i].orig)-cur < blocks {
					blocks = int64(p.sparing[i].orig) - cur
				}
			}
			c := min(blocks*v.bs, n)
			if out, err = appendExtent(out, core.Extent{Offset: phys * v.bs, Length: c}); err != nil {
				return out, err
			}
			n -= c
			cur += blocks
		}
		return out, nil
	case kindVirtual:
		if int64(lbn)+nblocks > int64(len(p.vat)) {
			return out, core.Errorf("udf virtual partition", -1, core.ErrCorrupt, "virtual blocks %d..%d not in the VAT (%d entries)", lbn, int64(lbn)+nblocks-1, len(p.vat))
		}
		for i := int64(0); n > 0; i++ {
			vb := int64(lbn) + i
			if vb >= int64(len(p.vat)) || p.vat[vb] == 0xFFFFFFFF {
				return out, core.Errorf("udf virtual partition", -1, core.ErrCorrupt, "virtual block %d not in the VAT (%d entries)", vb, len(p.vat))
			}
			c := min(v.bs, n)
			if out, err = v.mapRangeDepth(p.under, p.vat[vb], c, false, out, depth+1); err != nil {
				return out, err
			}
			n -= c
		}
		return out, nil
	case kindMetadata:
		ps, starts := p.meta, p.metaStarts
		if mirror {
			if p.mirror == nil {
				return out, core.Errorf("udf metadata partition", -1, core.ErrCorrupt, "no metadata mirror file")
			}
			ps, starts = p.mirror, p.mirrorStarts
		}
		pos := int64(lbn) * v.bs
		// Start at the extent holding pos: directories read block by block.
		k := sort.Search(len(starts), func(i int) bool { return starts[i] > pos }) - 1
		if k < 0 {
			k = 0
		}
		at := int64(0)
		if k < len(starts) {
			at = starts[k]
		}
		for _, pc := range ps[min(k, len(ps)):] {
			if n <= 0 {
				break
			}
			if pos >= at+pc.length {
				at += pc.length
				continue
			}
			if pc.sparse {
				return out, core.Errorf("udf metadata partition", -1, core.ErrCorrupt, "block %d lies in an unrecorded part of the metadata file", lbn)
			}
			skip := pos - at
			c := min(pc.length-skip, n)
			if out, err = v.mapRangeDepth(pc.ref, pc.lbn+uint32(skip/v.bs), c, false, out, depth+1); err != nil {
				return out, err
			}
			n -= c
			pos += c
			at += pc.length
		}
		if n > 0 {
			return out, core.Errorf("udf metadata partition", -1, core.ErrCorrupt, "block %d lies past the end of the metadata file", lbn)
		}
		return out, nil
	}
	return out, core.Errorf("udf partition map", -1, core.ErrUnsupported, "%s partition", p.kind)
}

// blockOffset returns the image byte offset of one logical block.
func (v *Volume) blockOffset(ref uint16, lbn uint32, mirror bool) (int64, error) {
	var buf [1]core.Extent
	ext, err := v.mapRange(ref, lbn, v.bs, mirror, buf[:0])
	if err != nil {
		return -1, err
	}
	return ext[0].Offset, nil
}

// readDesc reads the descriptor in logical block lbn of partition ref and
// checks its tag (want 0 accepts any identifier). A damaged descriptor in
// a metadata partition is read again from the metadata mirror file.
func (v *Volume) readDesc(ref uint16, lbn uint32, want uint16, structure string) ([]byte, int64, error) {
	b, off, err := v.readDescFrom(ref, lbn, want, structure, false)
	if err == nil {
		return b, off, nil
	}
	if p, perr := v.partition(ref); perr == nil && p.kind == kindMetadata && p.mirror != nil {
		if b2, off2, err2 := v.readDescFrom(ref, lbn, want, structure, true); err2 == nil {
			v.warnf("udf: %v; using the copy in the metadata mirror file", err)
			return b2, off2, nil
		}
	}
	return nil, off, err
}

func (v *Volume) readDescFrom(ref uint16, lbn uint32, want uint16, structure string, mirror bool) ([]byte, int64, error) {
	off, err := v.blockOffset(ref, lbn, mirror)
	if err != nil {
		return nil, -1, fmt.Errorf("%s at partition %d block %d: %w", structure, ref, lbn, err)
	}
	b, err := v.read(off, int(v.bs), structure)
	if err != nil {
		return nil, off, err
	}
	if _, err := checkTag(b, want, lbn, structure, off); err != nil {
		return nil, off, err
	}
	return b, off, nil
}

// pieceStarts returns the file offset at which each piece begins.
func pieceStarts(ps []piece) []int64 {
	if ps == nil {
		return nil
	}
	out := make([]int64, len(ps))
	var at int64
	for i, pc := range ps {
		out[i] = at
		at += pc.length
	}
	return out
}
