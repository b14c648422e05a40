package udf

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

var errBadCS0 = errors.New("bad OSTA CS0 compression identifier")

// decodeCS0 decodes OSTA compressed Unicode (UDF 2.1.1): a compression
// identifier byte, then 8-bit (8, 254) or big-endian 16-bit (16, 255) code
// units. 254/255 are the UDF 2.50+ forms used for deleted-file names.
func decodeCS0(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	switch b[0] {
	case 8, 254:
		var sb strings.Builder
		for _, c := range b[1:] {
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	case 16, 255:
		u := make([]uint16, 0, (len(b)-1)/2)
		for i := 1; i+1 < len(b); i += 2 {
			u = append(u, binary.BigEndian.Uint16(b[i:]))
		}
		rs := utf16.Decode(u)
		var sb strings.Builder
		for _, r := range rs {
			sb.WriteRune(r)
		}
		return sb.String(), nil
	}
	return "", errBadCS0
}

// dstring decodes a fixed-size dstring field: the last byte is the number
// of bytes used, compression identifier included. Damaged strings decode to
// what can be salvaged; identifiers are informational.
func dstring(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	n := int(b[len(b)-1])
	if n == 0 || n > len(b)-1 {
		return ""
	}
	s, err := decodeCS0(b[:n])
	if err != nil {
		return ""
	}
	return strings.TrimRight(s, "\x00 ")
}

// fileName turns a FID file identifier into a name usable as one POSIX path
// component (core.PathElement: NUL and '/' become '_', "." and ".." are renamed);
// invalid UTF-8 cannot arise since decodeCS0 builds from runes.
func fileName(b []byte) (string, error) {
	s, err := decodeCS0(b)
	if err != nil {
		return "", err
	}
	return core.PathElement(s), nil
}

// timestamp decodes an ECMA-167 timestamp (1/7.3), taking its time zone
// into account. The zero value (and impossible dates) decode to the zero
// Timestamp, meaning absent.
func timestamp(b []byte) core.Timestamp {
	tz := binary.LittleEndian.Uint16(b[0:])
	year := int(int16(binary.LittleEndian.Uint16(b[2:])))
	month, day, hour, min, sec := int(b[4]), int(b[5]), int(b[6]), int(b[7]), int(b[8])
	cs, hus, us := int(b[9]), int(b[10]), int(b[11])
	if year == 0 && month == 0 && day == 0 {
		return core.Timestamp{}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || cs > 99 || hus > 99 || us > 99 {
		return core.Timestamp{}
	}
	off := 0
	if tz>>12 == 1 {
		off = int(int16(tz<<4) >> 4) // sign-extend the 12-bit minutes offset
		if off < -1440 || off > 1440 {
			off = 0
		}
	}
	ns := (cs*10000 + hus*100 + us) * 1000
	// The wall clock of zone UTC+off: the same instant is off minutes
	// earlier in UTC (no zone is allocated).
	return core.TimestampOf(time.Date(year, time.Month(month), day, hour, min-off, sec, ns, time.UTC))
}

// regidIdent returns the identifier of an entity identifier (regid, 1/7.4).
func regidIdent(b []byte) string {
	id := b[1:24]
	if i := strings.IndexByte(string(id), 0); i >= 0 {
		id = id[:i]
	}
	return strings.TrimRight(string(id), " ")
}

// symlinkTarget decodes UDF path components (ECMA-167 4/14.16) into a POSIX path.
func symlinkTarget(b []byte) (string, error) {
	var parts []string
	abs := false
	for len(b) > 0 {
		if len(b) < 4 {
			return "", errors.New("truncated path component")
		}
		typ, n := b[0], int(b[1])
		if 4+n > len(b) {
			return "", errors.New("path component runs past the symlink data")
		}
		ident := b[4 : 4+n]
		b = b[4+n:]
		switch typ {
		case 1, 2: // root (1 may name an implementation-defined root; treat it as /)
			abs = true
			parts = parts[:0]
		case 3:
			parts = append(parts, "..")
		case 4:
			parts = append(parts, ".")
		case 5:
			name, err := fileName(ident)
			if err != nil {
				return "", err
			}
			if name == "" {
				return "", errors.New("empty path component name")
			}
			parts = append(parts, name)
		default:
			return "", errors.New("unknown path component type")
		}
	}
	s := strings.Join(parts, "/")
	if abs {
		s = "/" + s
	}
	if !utf8.ValidString(s) {
		return "", errors.New("invalid symlink target")
	}
	return s, nil
}
