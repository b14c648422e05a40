package isofmt

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// rrInfo collects what the SUSP / Rock Ridge entries of one directory
// record say. A corrupt optional extension never hides a file: parsing
// stops at the damage, the problem is noted in warn, and the caller falls
// back to the plain ISO 9660 attributes for anything missing.
type rrInfo struct {
	hasPX                 bool
	mode, nlink, uid, gid uint32
	serial                uint32
	hasSerial             bool
	hasPN                 bool
	rdev                  uint64
	name                  strings.Builder
	hasName, nameTooLong  bool
	nameCont              bool
	target                strings.Builder
	hasSL, slTooBig       bool
	mtime, atime, ctime   Timestamp
	btime                 Timestamp
	relocated             bool // RE
	hasCL, hasPL          bool
	childLBA, parentLBA   uint32
	zf                    *Zisofs
	hasSP                 bool
	spSkip                int
	extensions            []string // ER identifiers
	warn                  string   // first problem found, empty if none
}

func (rr *rrInfo) note(format string, args ...any) {
	if rr.warn == "" {
		rr.warn = fmt.Sprintf(format, args...)
	}
}

// xaFieldLen is the size of the CD-XA system-use field (owner and group
// ids, attributes, "XA", file number, reserved) that CD-XA writers put at
// the start of every directory record's system use area.
const xaFieldLen = 14

// rootSUSPStart is where the SUSP entries of the root's "." record start:
// at 0 as SUSP says, or after a CD-XA field when an XA writer put one
// first. SUSP wants SP at byte 0 of that record, but images made so exist
// (genisoimage -XA -R) and Linux (rock.c, RR_REGARD_XA) and 7-Zip accept
// them; their SP then says to skip the XA field in every other record.
func rootSUSPStart(su []byte) int {
	isSP := func(b []byte) bool {
		return len(b) >= 7 && b[0] == 'S' && b[1] == 'P' && b[2] >= 7 && b[4] == 0xBE && b[5] == 0xEF
	}
	if !isSP(su) && len(su) >= xaFieldLen && su[6] == 'X' && su[7] == 'A' && isSP(su[xaFieldLen:]) {
		return xaFieldLen
	}
	return 0
}

// suspReader walks SUSP areas, following CE continuation areas.
type suspReader struct {
	src       io.ReaderAt
	size      int64
	blockSize int64
}

// parse walks the system use area su of the record at recOff. skip is the
// SP skip length in force (0 for the root "." record itself).
func (s *suspReader) parse(su []byte, skip int, recOff int64) *rrInfo {
	rr := &rrInfo{}
	s.parseInto(rr, su, skip, recOff)
	return rr
}

// parseInto is parse filling rr (which must be zero), so that a directory
// scan can keep one rrInfo per entry off the heap.
func (s *suspReader) parseInto(rr *rrInfo, su []byte, skip int, recOff int64) {
	if skip > len(su) {
		return
	}
	area := su[skip:]
	areaOff := recOff // for messages only
	type loc struct{ lba, off uint32 }
	seen := map[loc]bool{}
	for hops := 0; ; hops++ {
		next, ok := s.parseArea(rr, area, areaOff)
		if !ok {
			break
		}
		if hops >= MaxCEHops {
			rr.note("rock ridge: more than %d continuation areas (record at byte %d)", MaxCEHops, recOff)
			break
		}
		if seen[loc{next.lba, next.off}] {
			rr.note("rock ridge: continuation area loop at block %d offset %d (record at byte %d)", next.lba, next.off, recOff)
			break
		}
		seen[loc{next.lba, next.off}] = true
		if int64(next.off)+int64(next.length) > s.blockSize || next.length < 4 {
			rr.note("rock ridge: continuation area at block %d offset %d length %d exceeds its block (record at byte %d)", next.lba, next.off, next.length, recOff)
			break
		}
		start := int64(next.lba)*s.blockSize + int64(next.off)
		if start+int64(next.length) > s.size {
			rr.note("rock ridge: continuation area at byte %d lies beyond the image end (record at byte %d)", start, recOff)
			break
		}
		buf := make([]byte, next.length)
		if _, err := s.src.ReadAt(buf, start); err != nil {
			rr.note("rock ridge: reading continuation area at byte %d: %v", start, err)
			break
		}
		area, areaOff = buf, start
	}
	rr.finish()
}

type ceLoc struct{ lba, off, length uint32 }

// parseArea parses the entries of one area; it returns the CE location if
// the area names a continuation.
func (s *suspReader) parseArea(rr *rrInfo, b []byte, areaOff int64) (next ceLoc, hasNext bool) {
	for len(b) >= 4 {
		n := int(b[2])
		if n < 4 || n > len(b) {
			if b[0] != 0 { // zero padding at the end of an area is normal
				rr.note("rock ridge: entry %q length %d overruns its area (area at byte %d)", b[0:2], n, areaOff)
			}
			return next, hasNext
		}
		d := b[4:n]
		switch string(b[0:2]) { // compared in place, no allocation
		case "SP":
			if len(d) >= 3 && d[0] == 0xBE && d[1] == 0xEF {
				rr.hasSP, rr.spSkip = true, int(d[2])
			}
		case "ST":
			return next, hasNext
		case "CE":
			if len(d) >= 24 {
				lba, _ := bothEndian32(d[0:8])
				off, _ := bothEndian32(d[8:16])
				ln, _ := bothEndian32(d[16:24])
				next, hasNext = ceLoc{lba, off, ln}, true
			}
		case "ER":
			if len(d) >= 4 && 4+int(d[0]) <= len(d) {
				rr.extensions = append(rr.extensions, string(d[4:4+int(d[0])]))
			}
		case "PX":
			if len(d) >= 32 {
				rr.hasPX = true
				rr.mode, _ = bothEndian32(d[0:8])
				rr.nlink, _ = bothEndian32(d[8:16])
				rr.uid, _ = bothEndian32(d[16:24])
				rr.gid, _ = bothEndian32(d[24:32])
				if len(d) >= 40 {
					rr.serial, _ = bothEndian32(d[32:40])
					rr.hasSerial = true
				}
			} else {
				rr.note("rock ridge: PX entry too short (%d bytes)", n)
			}
		case "PN":
			if len(d) >= 16 {
				hi, _ := bothEndian32(d[0:8])
				lo, _ := bothEndian32(d[8:16])
				rr.hasPN = true
				// As Linux's rock.c: (major, minor) in the high and low
				// words; old writers packed major<<8|minor into the low word.
				if hi == 0 && lo&^0xff != 0 {
					rr.rdev = uint64(lo>>8)<<32 | uint64(lo&0xff)
				} else {
					rr.rdev = uint64(hi)<<32 | uint64(lo)
				}
			}
		case "NM":
			if len(d) >= 1 {
				flags := d[0]
				if flags&0x06 == 0 { // current/parent names are not real names
					if rr.name.Len()+len(d)-1 > MaxNameLen {
						rr.nameTooLong = true
					} else {
						rr.name.Write(d[1:])
						rr.hasName = true
					}
				}
				rr.nameCont = flags&0x01 != 0
			}
		case "SL":
			if len(d) >= 1 {
				rr.parseSL(d[1:])
			}
		case "TF":
			if len(d) >= 1 {
				rr.parseTF(d[0], d[1:])
			}
		case "RE":
			rr.relocated = true
		case "CL":
			if len(d) >= 8 {
				rr.childLBA, _ = bothEndian32(d[0:8])
				rr.hasCL = true
			}
		case "PL":
			if len(d) >= 8 {
				rr.parentLBA, _ = bothEndian32(d[0:8])
				rr.hasPL = true
			}
		case "ZF":
			if len(d) >= 12 && d[0] == 'p' && d[1] == 'z' {
				real, _ := bothEndian32(d[4:12])
				rr.zf = &Zisofs{HeaderSize: d[2], BlockShift: d[3], RealSize: int64(real)}
			}
		}
		b = b[n:]
	}
	return next, hasNext
}

// parseSL appends the components of one SL entry with the semantics of
// Linux's rock.c and libarchive: each component is followed by "/" unless
// it has the continue flag or is the root; a final "/" is dropped in
// finish. Empty components are kept ("./" + "" + "file" is ".//file"), as
// those readers keep them.
func (rr *rrInfo) parseSL(c []byte) {
	rr.hasSL = true
	for len(c) >= 2 {
		flags, ln := c[0], int(c[1])
		if 2+ln > len(c) {
			rr.note("rock ridge: SL component length %d overruns its entry", ln)
			return
		}
		var text string
		switch {
		case flags&0x02 != 0:
			text = "."
		case flags&0x04 != 0:
			text = ".."
		case flags&0x08 != 0:
			text = "/"
		default:
			text = string(c[2 : 2+ln])
		}
		if flags&0x09 == 0 {
			text += "/"
		}
		if rr.target.Len()+len(text) > MaxLinkLen {
			rr.slTooBig = true
			return
		}
		rr.target.WriteString(text)
		c = c[2+ln:]
	}
}

// parseTF decodes the stamps present in flags, in their fixed order.
func (rr *rrInfo) parseTF(flags byte, d []byte) {
	size := 7
	if flags&0x80 != 0 {
		size = 17
	}
	for bit := 0; bit < 7; bit++ {
		if flags&(1<<bit) == 0 {
			continue
		}
		if len(d) < size {
			rr.note("rock ridge: TF entry shorter than its flags announce")
			return
		}
		var t Timestamp
		if size == 7 {
			t = TimestampOf(parseDirDateTime(d[:7]))
		} else {
			t = TimestampOf(parseDecDateTime(d[:17]))
		}
		switch bit {
		case 0:
			rr.btime = t
		case 1:
			rr.mtime = t
		case 2:
			rr.atime = t
		case 3:
			rr.ctime = t
		}
		d = d[size:]
	}
}

func (rr *rrInfo) finish() {
	if t := rr.target.String(); len(t) > 1 && strings.HasSuffix(t, "/") {
		rr.target.Reset()
		rr.target.WriteString(t[:len(t)-1])
	}
	if rr.nameTooLong {
		rr.note("rock ridge: name longer than %d bytes; using the ISO 9660 name", MaxNameLen)
		rr.hasName = false
	}
	if rr.slTooBig {
		rr.note("rock ridge: symlink target longer than %d bytes", MaxLinkLen)
	}
}

// le32 is a small helper for little-endian fields.
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
