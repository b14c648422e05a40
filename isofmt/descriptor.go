package isofmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
)

// SectorSize is the ISO 9660 logical sector size; volume descriptors and
// directory sectors are always this size, whatever the logical block size.
const SectorSize = 2048

// Volume descriptor types (ECMA-119 8.1.1).
const (
	vdBootRecord    = 0
	vdPrimary       = 1
	vdSupplementary = 2
	vdPartition     = 3
	vdTerminator    = 255
)

// Descriptor describes one volume descriptor found in the descriptor set.
type Descriptor struct {
	Sector int64  `json:"sector"`
	Type   string `json:"type"` // "boot record", "primary", "joliet", "supplementary", "enhanced", "partition", "terminator"
	// JolietLevel is 1..3 for Joliet supplementary descriptors.
	JolietLevel int `json:"joliet_level,omitempty"`
}

// VolumeDescriptor holds the fields of a primary, supplementary or enhanced
// volume descriptor that isofsd uses.
type VolumeDescriptor struct {
	Sector            int64     `json:"sector"`
	SystemID          string    `json:"system_id,omitempty"`
	VolumeID          string    `json:"volume_id"`
	VolumeSetID       string    `json:"volume_set_id,omitempty"`
	PublisherID       string    `json:"publisher_id,omitempty"`
	PreparerID        string    `json:"preparer_id,omitempty"`
	ApplicationID     string    `json:"application_id,omitempty"`
	VolumeSpaceSize   uint32    `json:"volume_space_size"` // in logical blocks
	LogicalBlockSize  uint32    `json:"logical_block_size"`
	CreationTime      time.Time `json:"creation_time"`
	ModificationTime  time.Time `json:"modification_time"`
	EscapeSequences   []byte    `json:"-"`
	FileStructVersion uint8     `json:"file_structure_version"`
	// ApplicationUse is the 512-byte application-use area (isomd5sum lives here).
	ApplicationUse []byte `json:"-"`
	root           []byte // the 34-byte root directory record
	jolietLevel    int
}

// VolumeBytes is the volume size in bytes as the descriptor claims it.
func (v *VolumeDescriptor) VolumeBytes() int64 {
	return int64(v.VolumeSpaceSize) * int64(v.LogicalBlockSize)
}

// bothEndian32 reads a both-endian 32-bit field and reports a mismatch.
func bothEndian32(b []byte) (le uint32, ok bool) {
	le = binary.LittleEndian.Uint32(b[0:4])
	return le, le == binary.BigEndian.Uint32(b[4:8])
}

func bothEndian16(b []byte) (le uint16, ok bool) {
	le = binary.LittleEndian.Uint16(b[0:2])
	return le, le == binary.BigEndian.Uint16(b[2:4])
}

// parseVolumeDescriptor parses a primary/supplementary/enhanced descriptor.
// Field mismatches where a plausible value exists become warnings.
func parseVolumeDescriptor(b []byte, sector int64, warn func(string)) (*VolumeDescriptor, error) {
	off := sector * SectorSize
	structure := "primary volume descriptor"
	if b[0] == vdSupplementary {
		structure = "supplementary volume descriptor"
	}
	str := dString
	if b[0] == vdSupplementary && jolietLevel(b[88:120]) > 0 {
		str = ucs2String // Joliet identifiers are UCS-2 too
	}
	v := &VolumeDescriptor{
		Sector:            sector,
		SystemID:          str(b[8:40]),
		VolumeID:          str(b[40:72]),
		EscapeSequences:   append([]byte(nil), b[88:120]...),
		VolumeSetID:       str(b[190:318]),
		PublisherID:       str(b[318:446]),
		PreparerID:        str(b[446:574]),
		ApplicationID:     str(b[574:702]),
		CreationTime:      parseDecDateTime(b[813:830]),
		ModificationTime:  parseDecDateTime(b[830:847]),
		FileStructVersion: b[881],
		ApplicationUse:    append([]byte(nil), b[883:883+512]...),
		root:              append([]byte(nil), b[156:190]...),
	}
	bs, ok := bothEndian16(b[128:132])
	if !ok {
		be := binary.BigEndian.Uint16(b[130:132])
		switch {
		case validBlockSize(uint32(bs)):
			warn(fmt.Sprintf("%s at sector %d: logical block size both-endian copies disagree (LE %d, BE %d); using %d", structure, sector, bs, be, bs))
		case validBlockSize(uint32(be)):
			warn(fmt.Sprintf("%s at sector %d: logical block size both-endian copies disagree (LE %d, BE %d); using %d", structure, sector, bs, be, be))
			bs = be
		default:
			return nil, formatErr(structure, off+128, ErrCorrupt, "logical block size both-endian copies disagree (LE %d, BE %d) and neither is valid", bs, be)
		}
	}
	if !validBlockSize(uint32(bs)) {
		return nil, formatErr(structure, off+128, ErrUnsupported, "logical block size %d (want 512, 1024 or 2048)", bs)
	}
	v.LogicalBlockSize = uint32(bs)
	vs, ok := bothEndian32(b[80:88])
	if !ok {
		be := binary.BigEndian.Uint32(b[84:88])
		warn(fmt.Sprintf("%s at sector %d: volume space size both-endian copies disagree (LE %d, BE %d); using %d", structure, sector, vs, be, min(vs, be)))
		vs = min(vs, be)
	}
	v.VolumeSpaceSize = vs
	if v.root[0] < 34 {
		return nil, formatErr(structure, off+156, ErrCorrupt, "root directory record length %d (want 34)", v.root[0])
	}
	return v, nil
}

func validBlockSize(n uint32) bool { return n == 512 || n == 1024 || n == 2048 }

// jolietLevel returns 1..3 when the escape sequences announce Joliet UCS-2.
func jolietLevel(esc []byte) int {
	for i := 0; i+3 <= len(esc); i++ {
		if esc[i] == '%' && esc[i+1] == '/' {
			switch esc[i+2] {
			case '@':
				return 1
			case 'C':
				return 2
			case 'E':
				return 3
			}
		}
	}
	return 0
}

// dString trims an a-/d-character field padded with spaces or NULs.
func dString(b []byte) string {
	return strings.TrimRight(string(bytes.TrimRight(b, "\x00")), " ")
}

// ucs2String decodes a UCS-2BE identifier padded with spaces or NULs.
func ucs2String(b []byte) string {
	return strings.TrimRight(jolietName(b, true), " \x00")
}

// parseDecDateTime parses the 17-byte descriptor date (ECMA-119 8.4.26.1).
// All-zero or all-'0' dates mean "not specified" and return the zero time.
func parseDecDateTime(b []byte) time.Time {
	digits := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[4:6])
	d, ok3 := digits(b[6:8])
	h, ok4 := digits(b[8:10])
	mi, ok5 := digits(b[10:12])
	s, ok6 := digits(b[12:14])
	cs, ok7 := digits(b[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || y == 0 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, cs*1e7, tzOffset(int8(b[16])))
}

// parseDirDateTime parses the 7-byte directory-record date (ECMA-119 9.1.5).
func parseDirDateTime(b []byte) time.Time {
	if b[1] < 1 || b[1] > 12 || b[2] < 1 || b[2] > 31 {
		return time.Time{}
	}
	return time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, tzOffset(int8(b[6])))
}

// tzOffset converts an offset in 15-minute units; out-of-range values
// (outside -48..52) mean UTC, as readers conventionally treat them. The
// 100 zones are made once: a zone per parsed date cost an allocation per
// time stamp of every entry of images recorded outside UTC.
func tzOffset(q int8) *time.Location {
	if q == 0 || q < -48 || q > 52 {
		return time.UTC
	}
	return tzZones()[int(q)+48]
}

var tzZones = sync.OnceValue(func() *[101]*time.Location {
	var z [101]*time.Location
	for i := range z {
		z[i] = time.FixedZone("", (i-48)*15*60)
	}
	return &z
})

// CheckPrimaryDescriptor checks that b, one 2048-byte sector, is an ISO
// 9660 primary volume descriptor an image could be opened by: type 1,
// "CD001", version 1, both-endian volume space and logical block sizes
// whose copies agree, a legal block size, a non-zero volume size and a
// 34-byte root directory record flagged as a directory. It is stricter
// than Open, which repairs a disagreeing copy with a warning: scanners
// (carve, undelete) use it to tell a descriptor from stray "CD001" bytes
// before opening anything.
func CheckPrimaryDescriptor(b []byte) error {
	if len(b) < SectorSize {
		return formatErr("primary volume descriptor", 0, ErrNotISO, "%d bytes, want %d", len(b), SectorSize)
	}
	if b[0] != vdPrimary || !bytes.Equal(b[1:6], []byte("CD001")) || b[6] != 1 {
		return formatErr("primary volume descriptor", 0, ErrNotISO, "no primary volume descriptor identifier")
	}
	vs, ok := bothEndian32(b[80:88])
	bs, ok2 := bothEndian16(b[128:132])
	switch {
	case !ok || !ok2:
		return formatErr("primary volume descriptor", 80, ErrCorrupt, "both-endian size copies disagree")
	case vs == 0 || !validBlockSize(uint32(bs)):
		return formatErr("primary volume descriptor", 80, ErrCorrupt, "volume of %d blocks of %d bytes", vs, bs)
	case b[156] != 34 || b[156+25]&2 == 0:
		return formatErr("primary volume descriptor", 156, ErrCorrupt, "root directory record is not a 34-byte directory record")
	}
	return nil
}
