package udf

import (
	"encoding/binary"
	"fmt"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// Tag identifiers (ECMA-167 3/7.2.1 and 4/7.2.1).
const (
	tagPVD  = 1
	tagAVDP = 2
	tagVDP  = 3
	tagIUVD = 4
	tagPD   = 5
	tagLVD  = 6
	tagUSD  = 7
	tagTD   = 8
	tagLVID = 9
	tagFSD  = 256
	tagFID  = 257
	tagAED  = 258
	tagIE   = 259
	tagTE   = 260
	tagFE   = 261
	tagEAHD = 262
	tagUSE  = 263
	tagEFE  = 266
)

const tagSize = 16

// tag is the 16-byte descriptor tag that starts every UDF descriptor.
type tag struct {
	ID       uint16
	Version  uint16
	Checksum uint8
	Serial   uint16
	CRC      uint16
	CRCLen   uint16
	Location uint32
}

func parseTag(b []byte) tag {
	return tag{
		ID:       binary.LittleEndian.Uint16(b[0:]),
		Version:  binary.LittleEndian.Uint16(b[2:]),
		Checksum: b[4],
		Serial:   binary.LittleEndian.Uint16(b[6:]),
		CRC:      binary.LittleEndian.Uint16(b[8:]),
		CRCLen:   binary.LittleEndian.Uint16(b[10:]),
		Location: binary.LittleEndian.Uint32(b[12:]),
	}
}

// tagChecksum is the modulo-256 sum of the tag bytes except the checksum byte itself.
func tagChecksum(b []byte) uint8 {
	var s uint8
	for i := 0; i < tagSize; i++ {
		if i != 4 {
			s += b[i]
		}
	}
	return s
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

// crc16 is the CRC-16/CCITT (polynomial 0x1021, initial value 0) ECMA-167 uses for descriptors.
func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// checkTag validates the tag at the start of b: identifier, checksum,
// descriptor CRC over the bytes that follow and the recorded location. b
// must hold the whole descriptor as far as the CRC length reaches; the
// caller passes what it read and checkTag reports a length error if the CRC
// area does not fit. structure and off name the descriptor in errors.
func checkTag(b []byte, want uint16, loc uint32, structure string, off int64) (tag, error) {
	if len(b) < tagSize {
		return tag{}, core.Errorf(structure, off, core.ErrTruncated, "descriptor shorter than its tag")
	}
	t := parseTag(b)
	if want != 0 && t.ID != want {
		return t, core.Errorf(structure, off, core.ErrCorrupt, "tag identifier %d, want %d (logical block %d)", t.ID, want, loc)
	}
	if tagChecksum(b) != t.Checksum {
		return t, core.Errorf(structure, off, core.ErrCorrupt, "tag checksum mismatch (logical block %d)", loc)
	}
	if int(t.CRCLen) > len(b)-tagSize {
		return t, core.Errorf(structure, off, core.ErrCorrupt, "descriptor CRC length %d runs past the %d bytes available (logical block %d)", t.CRCLen, len(b)-tagSize, loc)
	}
	if crc16(b[tagSize:tagSize+int(t.CRCLen)]) != t.CRC {
		return t, core.Errorf(structure, off, core.ErrCorrupt, "descriptor CRC mismatch (logical block %d)", loc)
	}
	if t.Location != loc {
		return t, core.Errorf(structure, off, core.ErrCorrupt, "tag location %d, descriptor is at logical block %d", t.Location, loc)
	}
	return t, nil
}

// tagName names a tag identifier for messages.
func tagName(id uint16) string {
	switch id {
	case tagPVD:
		return "primary volume descriptor"
	case tagAVDP:
		return "anchor volume descriptor pointer"
	case tagVDP:
		return "volume descriptor pointer"
	case tagIUVD:
		return "implementation use volume descriptor"
	case tagPD:
		return "partition descriptor"
	case tagLVD:
		return "logical volume descriptor"
	case tagUSD:
		return "unallocated space descriptor"
	case tagTD:
		return "terminating descriptor"
	case tagFSD:
		return "file set descriptor"
	case tagFE:
		return "file entry"
	case tagEFE:
		return "extended file entry"
	case tagIE:
		return "indirect entry"
	}
	return fmt.Sprintf("descriptor %d", id)
}

// CheckAnchor checks that b holds an anchor volume descriptor pointer
// recorded at logical block loc: tag identifier 2, tag checksum,
// descriptor CRC and tag location. Scanners use it to find the anchors
// that close a UDF volume (at N-257 and N-1) without opening the volume.
func CheckAnchor(b []byte, loc uint32) error {
	_, err := checkTag(b, tagAVDP, loc, "anchor volume descriptor pointer", int64(loc))
	return err
}
