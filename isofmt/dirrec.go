package isofmt

import (
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// Directory record file flags (ECMA-119 9.1.6).
const (
	flagHidden      = 0x01
	flagDirectory   = 0x02
	flagAssociated  = 0x04
	flagMultiExtent = 0x80
)

// minDirRecord is the length of a directory record with a 1-byte identifier.
const minDirRecord = 34

// dirRecord is one parsed directory record.
type dirRecord struct {
	offset     int64 // byte offset of the record in the image
	extLBA     uint32
	earLen     uint8 // extended attribute record length, in blocks
	dataLen    uint32
	recorded   Timestamp
	flags      uint8
	unitSize   uint8
	gapSize    uint8
	ident      []byte // file identifier, raw
	systemUse  []byte
	bothEndErr bool // extent or size copies disagreed
}

// parseDirRecord parses the record at b[0:b[0]]; b must hold the whole
// record (callers guarantee records do not straddle sectors).
func parseDirRecord(b []byte, offset int64) (*dirRecord, error) {
	r := &dirRecord{}
	if err := parseDirRecordInto(r, b, offset); err != nil {
		return nil, err
	}
	return r, nil
}

// parseDirRecordInto is parseDirRecord filling r, so that a directory
// scan can reuse one record instead of allocating one per entry. r's
// ident and systemUse alias b.
func parseDirRecordInto(r *dirRecord, b []byte, offset int64) error {
	n := int(b[0])
	if n < minDirRecord || n > len(b) {
		return formatErr("directory record", offset, ErrCorrupt, "record length %d (%d bytes left in sector)", n, len(b))
	}
	*r = dirRecord{offset: offset, earLen: b[1], recorded: TimestampOf(parseDirDateTime(b[18:25])), flags: b[25], unitSize: b[26], gapSize: b[27]}
	var ok1, ok2 bool
	r.extLBA, ok1 = bothEndian32(b[2:10])
	r.dataLen, ok2 = bothEndian32(b[10:18])
	r.bothEndErr = !ok1 || !ok2
	idLen := int(b[32])
	if idLen == 0 || 33+idLen > n {
		return formatErr("directory record", offset, ErrCorrupt, "file identifier length %d does not fit record length %d", idLen, n)
	}
	r.ident = b[33 : 33+idLen]
	su := 33 + idLen
	if idLen%2 == 0 {
		su++ // padding byte
	}
	if su < n {
		r.systemUse = b[su:n]
	}
	return nil
}

func (r *dirRecord) isDir() bool { return r.flags&flagDirectory != 0 }

// isDot / isDotDot recognise the special identifiers 0x00 and 0x01.
func (r *dirRecord) isDot() bool    { return len(r.ident) == 1 && r.ident[0] == 0 }
func (r *dirRecord) isDotDot() bool { return len(r.ident) == 1 && r.ident[0] == 1 }

// plainName turns an ISO 9660 identifier into a name: the ";1" version and
// a trailing dot (of an extension-less file) are dropped, as every reader does.
func plainName(id []byte, dir bool) string {
	s := string(id)
	if !dir {
		if i := strings.LastIndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if len(s) > 1 && strings.HasSuffix(s, ".") {
			s = s[:len(s)-1]
		}
	}
	return s
}

// jolietName decodes a UCS-2/UTF-16BE Joliet identifier. Unpaired
// surrogates become U+FFFD; an odd trailing byte is dropped.
func jolietName(id []byte, dir bool) string {
	u := make([]uint16, len(id)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(id[2*i:])
	}
	s := string(utf16.Decode(u))
	if !dir {
		if i := strings.LastIndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if len(s) > 1 && strings.HasSuffix(s, ".") {
			s = s[:len(s)-1]
		}
	}
	return s
}
