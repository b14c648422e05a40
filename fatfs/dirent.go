package fatfs

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"
)

// Attr holds a directory entry's attribute bits.
type Attr uint8

// Attribute bits.
const (
	AttrReadOnly  Attr = 0x01
	AttrHidden    Attr = 0x02
	AttrSystem    Attr = 0x04
	AttrVolumeID  Attr = 0x08
	AttrDirectory Attr = 0x10
	AttrArchive   Attr = 0x20
	attrLFN       Attr = 0x0F
	attrLFNMask   Attr = 0x3F
)

// deletedMark is the first byte of a deleted entry.
const deletedMark = 0xE5

// Entry is one directory entry: a file, a directory, or (when asked for)
// a deleted one.
type Entry struct {
	// Name is the long name when one is recorded and intact, else the
	// short name.
	Name string `json:"name"`
	// ShortName is the 8.3 name ("NAME.EXT"). For a deleted entry whose
	// long name did not survive, its lost first character is '?'.
	ShortName    string    `json:"short_name"`
	Attr         Attr      `json:"attr"`
	Size         uint32    `json:"size"`
	FirstCluster uint32    `json:"first_cluster"`
	Created      time.Time `json:"created"`
	Modified     time.Time `json:"modified"`
	// Accessed is a date only.
	Accessed time.Time `json:"accessed"`
	Deleted  bool      `json:"deleted,omitempty"`
	// HasLongName reports whether Name came from long-name entries.
	HasLongName bool `json:"has_long_name,omitempty"`
	// Offset is the byte offset of the 32-byte short entry in the volume.
	Offset int64 `json:"offset"`
}

// IsDir reports a directory entry.
func (e *Entry) IsDir() bool { return e.Attr&AttrDirectory != 0 }

// lfnPart is one long-name entry as found.
type lfnPart struct {
	seq      int
	last     bool
	deleted  bool
	checksum byte
	chars    [13]uint16
}

func parseLFN(e []byte) lfnPart {
	p := lfnPart{seq: int(e[0] & 0x1f), last: e[0]&0x40 != 0, deleted: e[0] == deletedMark, checksum: e[13]}
	k := 0
	for _, r := range [][2]int{{1, 11}, {14, 26}, {28, 32}} {
		for o := r[0]; o < r[1]; o += 2 {
			p.chars[k] = binary.LittleEndian.Uint16(e[o:])
			k++
		}
	}
	return p
}

// ShortNameChecksum is the checksum long-name entries carry of the 11
// bytes of their short name.
func ShortNameChecksum(name []byte) byte {
	var s byte
	for _, c := range name[:11] {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// longName assembles parts (in on-disk order, furthest from the short
// entry first) for the short entry raw; ok is false when they do not
// form an intact long name for it.
func longName(parts []lfnPart, raw []byte) (string, bool) {
	if len(parts) == 0 || len(parts) > 20 {
		return "", false
	}
	sum := ShortNameChecksum(raw)
	n := len(parts)
	if !parts[0].last || parts[0].seq != n {
		return "", false
	}
	var u []uint16
	for i := n - 1; i >= 0; i-- {
		p := parts[i]
		if p.seq != n-i || p.checksum != sum || p.deleted || (i > 0 && p.last) {
			return "", false
		}
		u = append(u, p.chars[:]...)
	}
	return decodeUTF16Name(u)
}

// deletedLongName recovers the long name of a deleted entry and the
// first byte of its short name: deletion overwrote the first byte of the
// short entry and the sequence byte of each long-name entry, but the
// long-name entries still carry the checksum of the original short name.
// The checksum is a bijection of that first byte, so exactly one value
// fits.
func deletedLongName(parts []lfnPart, raw []byte) (string, byte, bool) {
	if len(parts) == 0 || len(parts) > 20 {
		return "", 0, false
	}
	// The entries nearest the short entry belong to it, as far back as
	// they are deleted and share one checksum.
	k := len(parts) - 1
	sum := parts[k].checksum
	for k > 0 && parts[k-1].deleted && parts[k-1].checksum == sum && len(parts)-k < 20 {
		k--
	}
	parts = parts[k:]
	var first byte
	found := false
	probe := append([]byte(nil), raw[:11]...)
	for c := 0; c < 256; c++ {
		probe[0] = byte(c)
		if ShortNameChecksum(probe) == sum {
			first, found = byte(c), true
			break
		}
	}
	if !found {
		return "", 0, false
	}
	var u []uint16
	for i := len(parts) - 1; i >= 0; i-- {
		if !parts[i].deleted {
			return "", 0, false
		}
		u = append(u, parts[i].chars[:]...)
	}
	name, ok := decodeUTF16Name(u)
	return name, first, ok
}

// decodeUTF16Name ends the name at its NUL and rejects empty names.
func decodeUTF16Name(u []uint16) (string, bool) {
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	if len(u) == 0 {
		return "", false
	}
	for _, c := range u {
		if c == 0xffff {
			return "", false // padding inside the name
		}
	}
	return string(utf16.Decode(u)), true
}

// shortName formats the 11-byte short name, honouring the Windows NT
// lower-case flags of byte 12.
func shortName(raw []byte, flags byte) string {
	b := []byte(string(raw[:11]))
	if b[0] == 0x05 {
		b[0] = deletedMark
	}
	base := strings.TrimRight(oemString(b[:8]), " ")
	ext := strings.TrimRight(oemString(b[8:11]), " ")
	if flags&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if flags&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// cp437High maps bytes 0x80-0xFF of short names (code page 437, what
// DOS and Windows write by default) to Unicode.
const cp437High = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437 = []rune(cp437High)

func oemString(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c < 0x80 {
			s.WriteByte(c)
		} else {
			s.WriteRune(cp437[c-0x80])
		}
	}
	return s.String()
}

// parseDir decodes the entries of one directory held in buf; offset maps
// a position in buf to its byte offset in the volume. It stops at the
// end marker (a zero first byte), as the specification says.
func parseDir(buf []byte, offset func(int) int64, deleted bool) (entries []Entry, label string) {
	if end := dirEnd(buf); end >= 0 {
		buf = buf[:end]
	}
	var lfn []lfnPart
	for i := 0; i+32 <= len(buf); i += 32 {
		e := buf[i : i+32]
		attr := Attr(e[11])
		if attr&attrLFNMask == attrLFN {
			if len(lfn) < 64 {
				lfn = append(lfn, parseLFN(e))
			}
			continue
		}
		parts := lfn
		lfn = nil
		isDeleted := e[0] == deletedMark
		if isDeleted && !deleted {
			continue
		}
		if attr&AttrVolumeID != 0 {
			if !isDeleted && label == "" {
				label = strings.TrimRight(oemString(e[:11]), " ")
			}
			continue
		}
		if !isDeleted && e[0] == '.' && (string(e[:11]) == ".          " || string(e[:11]) == "..         ") {
			continue
		}
		ent := Entry{
			Attr:         attr,
			Size:         binary.LittleEndian.Uint32(e[28:]),
			FirstCluster: uint32(binary.LittleEndian.Uint16(e[26:])) | uint32(binary.LittleEndian.Uint16(e[20:]))<<16,
			Created:      DecodeTime(binary.LittleEndian.Uint16(e[16:]), binary.LittleEndian.Uint16(e[14:]), e[13]),
			Modified:     DecodeTime(binary.LittleEndian.Uint16(e[24:]), binary.LittleEndian.Uint16(e[22:]), 0),
			Accessed:     DecodeTime(binary.LittleEndian.Uint16(e[18:]), 0, 0),
			Deleted:      isDeleted,
			Offset:       offset(i),
		}
		if isDeleted {
			raw := append([]byte(nil), e[:11]...)
			if name, first, ok := deletedLongName(parts, raw); ok {
				raw[0] = first
				ent.Name, ent.HasLongName = name, true
				ent.ShortName = shortName(raw, e[12])
			} else {
				raw[0] = '?'
				ent.ShortName = shortName(raw, e[12])
				ent.Name = ent.ShortName
			}
		} else {
			ent.ShortName = shortName(e, e[12])
			ent.Name = ent.ShortName
			if name, ok := longName(parts, e); ok {
				ent.Name, ent.HasLongName = name, true
			}
		}
		entries = append(entries, ent)
	}
	return entries, label
}

// ParseDirectory decodes raw directory bytes, for recovery tools that read
// clusters no chain reaches any more (the directory of a deleted
// directory): base is the volume offset of buf[0], and the entries'
// Offset fields are counted from it. deleted includes deleted entries.
// It returns the entries and the volume label entry's text, if any.
func ParseDirectory(buf []byte, base int64, deleted bool) ([]Entry, string) {
	return parseDir(buf, func(i int) int64 { return base + int64(i) }, deleted)
}

// dirEnd returns the offset in buf of the entry that ends the directory
// (its first byte is zero), or -1 when buf holds none: then the
// directory goes on past buf, unless buf is its last cluster and full.
func dirEnd(buf []byte) int {
	for i := 0; i+32 <= len(buf); i += 32 {
		if buf[i] == 0 {
			return i
		}
	}
	return -1
}

// plausibleDir reports whether buf, up to the end of the directory,
// holds nothing but well-formed entries. A deleted directory's clusters
// are vouched for by no chain, and any of them may hold a later file's
// data since: reading that as entries would invent files.
func plausibleDir(buf []byte) bool {
	if end := dirEnd(buf); end >= 0 {
		buf = buf[:end]
	}
	for i := 0; i+32 <= len(buf); i += 32 {
		if !plausibleEntry(buf[i : i+32]) {
			return false
		}
	}
	return true
}

// plausibleEntry checks what the specification fixes in an entry: a
// long-name entry has a sequence number of 1 to 20 (or the deleted
// mark), type 0 and cluster 0; a short entry has no reserved attribute
// bits and an 8.3 name of characters a short name may hold.
func plausibleEntry(e []byte) bool {
	if Attr(e[11])&attrLFNMask == attrLFN {
		seq := e[0] & 0x1f
		return e[12] == 0 && e[26] == 0 && e[27] == 0 &&
			(e[0] == deletedMark || e[0]&^0x5f == 0 && seq >= 1 && seq <= 20)
	}
	if e[11]&0xc0 != 0 {
		return false
	}
	if string(e[:11]) == ".          " || string(e[:11]) == "..         " {
		return true
	}
	for i, c := range e[:11] {
		switch {
		case i == 0 && (c == deletedMark || c == 0x05):
		case c < 0x20, i == 0 && c == ' ', strings.IndexByte(`"*+,./:;<=>?[\]|`, c) >= 0:
			return false
		}
	}
	return true
}
