package udf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

const (
	vrsStart = 32768
	// maxVRSDescriptors bounds the recognition sequence scan (ECMA-167 2/8.3
	// ends it at the first unrecognised descriptor; a bridge image has a few
	// ISO 9660 descriptors before BEA01).
	maxVRSDescriptors = 64
)

// scanVRS looks for the extended area (BEA01 … TEA01) holding an NSR02 or
// NSR03 descriptor. step is 2048 for block sizes up to 2048 and the block
// size above that (each descriptor then starts its own block). It returns
// the NSR version, 0 if none.
func scanVRS(r io.ReaderAt, size int64, step int64) int {
	buf := make([]byte, 7)
	inExtended := false
	nsr := 0
	for i := int64(0); i < maxVRSDescriptors; i++ {
		off := vrsStart + i*step
		if off+int64(len(buf)) > size {
			break
		}
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			break
		}
		id := string(buf[1:6])
		switch id {
		case "BEA01":
			inExtended = true
		case "TEA01":
			if nsr != 0 {
				return nsr
			}
			inExtended = false
		case "NSR02", "NSR03":
			if inExtended {
				nsr = int(id[4] - '0')
			}
		case "CD001", "BOOT2", "CDW02":
			// ISO 9660 and ECMA-168 descriptors may precede or sit inside the extended area.
		default:
			return nsr
		}
	}
	return nsr
}

// anchor is one valid anchor volume descriptor pointer.
type anchor struct {
	loc              int64 // logical sector
	mainLoc, mainLen uint32
	resLoc, resLen   uint32
}

// findAnchors returns the valid anchors for block size bs, in the order
// 256, N-257, N-1.
func findAnchors(r io.ReaderAt, size, bs int64) []anchor {
	n := size / bs
	var out []anchor
	seen := map[int64]bool{}
	for _, loc := range []int64{256, n - 257, n - 1} {
		if loc < 256 || seen[loc] || (loc+1)*bs > size {
			continue
		}
		seen[loc] = true
		b := make([]byte, 512)
		if _, err := r.ReadAt(b, loc*bs); err != nil && err != io.EOF {
			continue
		}
		if _, err := checkTag(b, tagAVDP, uint32(loc), "udf anchor", loc*bs); err != nil {
			continue
		}
		out = append(out, anchor{
			loc:     loc,
			mainLen: binary.LittleEndian.Uint32(b[16:]), mainLoc: binary.LittleEndian.Uint32(b[20:]),
			resLen: binary.LittleEndian.Uint32(b[24:]), resLoc: binary.LittleEndian.Uint32(b[28:]),
		})
	}
	return out
}

// Open detects and opens the UDF volume on r, an image of size bytes. It
// returns an error wrapping core.ErrNotISO when the image has no UDF
// recognition sequence or no valid anchor.
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	if size < vrsStart+2048 {
		return nil, fmt.Errorf("udf: %w: image too small for a UDF volume", core.ErrNotISO)
	}
	// Try the common block size first: an anchor must also carry its own
	// location (256), so a wrong block size does not validate by accident.
	var anchors []anchor
	var bs int64
	for _, b := range []int64{2048, 4096, 512, 1024} {
		if a := findAnchors(r, size, b); len(a) > 0 {
			anchors, bs = a, b
			break
		}
	}
	step := int64(2048)
	if bs > 2048 {
		step = bs
	}
	nsr := scanVRS(r, size, step)
	if nsr == 0 && bs == 0 {
		nsr = scanVRS(r, size, 4096)
	}
	if len(anchors) == 0 {
		if nsr != 0 {
			return nil, fmt.Errorf("udf: %w: NSR0%d recognition sequence present but no valid anchor volume descriptor pointer (%w)", core.ErrNotISO, nsr, core.ErrCorrupt)
		}
		return nil, fmt.Errorf("udf: %w: no UDF anchor volume descriptor pointer", core.ErrNotISO)
	}
	v := &Volume{r: r, size: size, bs: bs}
	v.info.BlockSize = int(bs)
	v.info.NSR = nsr
	if nsr == 0 {
		v.warnf("udf: no NSR02/NSR03 volume recognition sequence; trusting the anchor at block %d", anchors[0].loc)
	}
	for _, a := range anchors {
		v.info.Anchors = append(v.info.Anchors, a.loc)
		if end := (a.loc + 1) * bs; end > v.info.LastAnchor {
			v.info.LastAnchor = end
		}
	}
	var errs []error
	for _, a := range anchors {
		err := v.load(a)
		if err == nil {
			return v, nil
		}
		errs = append(errs, fmt.Errorf("anchor at block %d: %w", a.loc, err))
		v.parts = nil
		v.info.PartitionMaps, v.info.PartitionStart, v.info.PartitionLength = nil, 0, 0
	}
	return nil, fmt.Errorf("udf: cannot open volume: %w", errors.Join(errs...))
}

// vdsSet is what a volume descriptor sequence provided.
type vdsSet struct {
	pvd, lvd, iuvd []byte
	pvdN, lvdN     uint32
	pds            map[uint16][]byte
	pdN            map[uint16]uint32
	pdOrder        []uint16
}

func (s *vdsSet) usable() bool { return s.lvd != nil && len(s.pds) > 0 }

// readVDS reads a volume descriptor sequence starting at sector loc,
// following descriptor pointers. It returns what it collected along with
// the first damage found (reading stops there).
func (v *Volume) readVDS(loc, length uint32) (*vdsSet, error) {
	s := &vdsSet{pds: map[uint16][]byte{}, pdN: map[uint16]uint32{}}
	hops, count := 0, 0
	for {
		nblocks := int64(length) / v.bs
		next := false
		for i := int64(0); i < nblocks; i++ {
			if count++; count > maxVDSDescriptors {
				return s, core.Errorf("udf volume descriptor sequence", int64(loc)*v.bs, core.ErrLimit, "more than %d descriptors", maxVDSDescriptors)
			}
			sec := int64(loc) + i
			off := sec * v.bs
			b, err := v.read(off, int(v.bs), "udf volume descriptor")
			if err != nil {
				return s, err
			}
			if isZero(b[:tagSize]) {
				return s, nil // unrecorded: the sequence ended without a terminator
			}
			t := parseTag(b)
			if need := tagSize + int(t.CRCLen); need > len(b) && need <= maxDescriptorSize {
				if b, err = v.read(off, need, "udf volume descriptor"); err != nil {
					return s, err
				}
			}
			if sec > 0xFFFFFFFF {
				return s, core.Errorf("udf volume descriptor", off, core.ErrCorrupt, "sector number overflows")
			}
			if t, err = checkTag(b, 0, uint32(sec), "udf "+tagName(t.ID), off); err != nil {
				return s, err
			}
			if len(b) < 24 {
				return s, core.Errorf("udf "+tagName(t.ID), off, core.ErrCorrupt, "descriptor too short")
			}
			vdsn := binary.LittleEndian.Uint32(b[16:])
			switch t.ID {
			case tagPVD:
				if s.pvd == nil || vdsn >= s.pvdN {
					s.pvd, s.pvdN = b, vdsn
				}
			case tagIUVD:
				if s.iuvd == nil {
					s.iuvd = b
				}
			case tagLVD:
				if len(b) < 440 {
					return s, core.Errorf("udf logical volume descriptor", off, core.ErrCorrupt, "descriptor too short")
				}
				if s.lvd == nil || vdsn >= s.lvdN {
					s.lvd, s.lvdN = b, vdsn
				}
			case tagPD:
				if len(b) < 196 {
					return s, core.Errorf("udf partition descriptor", off, core.ErrCorrupt, "descriptor too short")
				}
				num := binary.LittleEndian.Uint16(b[22:])
				if old, ok := s.pds[num]; !ok || vdsn >= s.pdN[num] {
					if old == nil {
						s.pdOrder = append(s.pdOrder, num)
					}
					s.pds[num], s.pdN[num] = b, vdsn
				}
			case tagUSD:
			case tagVDP:
				if hops++; hops > maxVDSChain {
					return s, core.Errorf("udf volume descriptor pointer", off, core.ErrLimit, "more than %d pointer hops", maxVDSChain)
				}
				if len(b) < 28 {
					return s, core.Errorf("udf volume descriptor pointer", off, core.ErrCorrupt, "descriptor too short")
				}
				length = binary.LittleEndian.Uint32(b[20:])
				loc = binary.LittleEndian.Uint32(b[24:])
				next = true
			case tagTD:
				return s, nil
			default:
				v.warnf("udf: unexpected %s in the volume descriptor sequence at sector %d", tagName(t.ID), sec)
			}
			if next {
				break
			}
			// Descriptors longer than a block (a large partition map table) occupy several.
			i += (int64(len(b)) - 1) / v.bs
		}
		if !next {
			return s, nil
		}
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// load reads the volume structures reached from anchor a.
func (v *Volume) load(a anchor) error {
	main, mainErr := v.readVDS(a.mainLoc, a.mainLen)
	s := main
	if mainErr != nil || !main.usable() {
		res, resErr := v.readVDS(a.resLoc, a.resLen)
		switch {
		case resErr == nil && res.usable():
			v.warnf("udf: main volume descriptor sequence at sector %d unusable (%v); using the reserve at sector %d", a.mainLoc, describe(mainErr, "incomplete"), a.resLoc)
			s = res
		case main.usable():
			v.warnf("udf: main volume descriptor sequence at sector %d damaged (%v); using what it held", a.mainLoc, mainErr)
			if res.usable() {
				s = res
			}
		default:
			return fmt.Errorf("no usable volume descriptor sequence: main: %w; reserve: %w", orIncomplete(mainErr), orIncomplete(resErr))
		}
	}
	if s.pvd != nil {
		v.info.VolumeID = dstring(s.pvd[24:56])
		v.info.VolumeSetID = dstring(s.pvd[72:200])
	} else {
		v.warnf("udf: no primary volume descriptor")
	}
	lvd := s.lvd
	v.info.LogicalVolumeID = dstring(lvd[84:212])
	lbs := binary.LittleEndian.Uint32(lvd[212:])
	if int64(lbs) != v.bs {
		return core.Errorf("udf logical volume descriptor", -1, core.ErrUnsupported, "logical block size %d differs from the %d-byte sector size found by the anchor", lbs, v.bs)
	}
	if regidIdent(lvd[216:248]) == "*OSTA UDF Compliant" {
		v.info.Revision = binary.LittleEndian.Uint16(lvd[240:])
	}
	if err := v.loadPartitions(s); err != nil {
		return err
	}
	return v.loadFileSet(parseLongAD(lvd[248:264]))
}

// orIncomplete names a sequence that ended without the descriptors a volume needs.
func orIncomplete(err error) error {
	if err == nil {
		return fmt.Errorf("%w: no logical volume or partition descriptor", core.ErrCorrupt)
	}
	return err
}

func describe(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	return err.Error()
}

// loadFileSet reads the file set descriptor and its root directory ICB.
func (v *Volume) loadFileSet(fsd longAD) error {
	if fsd.length() == 0 {
		return core.Errorf("udf logical volume descriptor", -1, core.ErrCorrupt, "no file set descriptor extent")
	}
	b, _, err := v.readDesc(fsd.ref, fsd.lbn, tagFSD, "udf file set descriptor")
	if err != nil {
		return err
	}
	if len(b) < 512 {
		return core.Errorf("udf file set descriptor", -1, core.ErrCorrupt, "descriptor too short")
	}
	v.info.FileSetID = dstring(b[304:336])
	if v.info.Revision == 0 && regidIdent(b[416:448]) == "*OSTA UDF Compliant" {
		v.info.Revision = binary.LittleEndian.Uint16(b[440:])
	}
	v.root = parseLongAD(b[400:416])
	if v.root.length() == 0 {
		return core.Errorf("udf file set descriptor", -1, core.ErrCorrupt, "no root directory ICB")
	}
	if _, err := v.partition(v.root.ref); err != nil {
		return err
	}
	return nil
}
