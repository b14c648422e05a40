package isofmt

// The system area is the first 32 KiB of an ISO 9660 image, which the
// standard leaves to the system. Hybrid images put partition tables there so
// the same bytes boot from a USB stick: an MBR (isolinux's isohybrid, or a
// protective MBR), a GPT at LBA 1 (in 512-byte sectors, or 2048/4096-byte
// sectors as xorriso can write), and an Apple partition map for Macs.
// Partitions may lie beyond the ISO volume (xorriso -append_partition).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

const (
	// systemAreaSize is the part of the image before the first volume
	// descriptor.
	systemAreaSize = 16 * 2048
	// maxGPTEntries caps the GPT entries parsed; the usual array has 128.
	maxGPTEntries = 1024
	// maxGPTEntrySize caps one GPT entry's claimed size (128 in practice).
	maxGPTEntrySize = 1024
	// maxGPTEntryArray caps the bytes of entry array whose CRC is verified
	// (streamed, never allocated): a hostile header may claim gigabytes.
	maxGPTEntryArray = 4 << 20
	// maxAPMEntries caps the Apple partition map entries followed.
	maxAPMEntries = 64
	// mbrSectorSize is the unit of MBR and (usually) GPT addresses.
	mbrSectorSize = 512
)

// SystemArea describes the partitioning found in an image's system area.
type SystemArea struct {
	MBR *MBR `json:"mbr,omitempty"`
	GPT *GPT `json:"gpt,omitempty"`
	APM *APM `json:"apm,omitempty"`
	// Partitions lists every partition of every scheme found, MBR first,
	// then GPT, then APM.
	Partitions []Partition `json:"partitions"`
	// IsoHybrid is set when the MBR makes the image bootable as a disk:
	// isolinux's isohdpfx boot code, or a partition that starts at 0 or
	// at the descriptor set of -partition_offset 16 and covers the volume.
	IsoHybrid bool     `json:"isohybrid"`
	Warnings  []string `json:"warnings,omitempty"`
}

// MBR is a DOS master boot record.
type MBR struct {
	// DiskSignature is the 32-bit identifier at byte 440.
	DiskSignature uint32 `json:"disk_signature"`
	// BootCode reports whether the first 440 bytes are not all zero.
	BootCode bool `json:"boot_code"`
	// Protective is set when an entry has type 0xEE (GPT protective MBR).
	Protective bool `json:"protective"`
	// Isohdpfx is set when the boot code is isolinux's isohybrid MBR.
	Isohdpfx bool `json:"isohdpfx"`
	// Entries holds the four primary entries as read, empty ones included.
	Entries [4]MBREntry `json:"entries"`
}

// MBREntry is one primary partition entry.
type MBREntry struct {
	Status   uint8  `json:"status"`
	Type     uint8  `json:"type"`
	StartLBA uint32 `json:"start_lba"`
	Sectors  uint32 `json:"sectors"`
}

// GPT is a GUID partition table header.
type GPT struct {
	// SectorSize is the sector size the header was found with (512, 2048
	// or 4096); GPT addresses are in this unit.
	SectorSize     int    `json:"sector_size"`
	Revision       uint32 `json:"revision"`
	HeaderSize     uint32 `json:"header_size"`
	HeaderCRCOK    bool   `json:"header_crc_ok"`
	CurrentLBA     uint64 `json:"current_lba"`
	BackupLBA      uint64 `json:"backup_lba"`
	BackupOffset   int64  `json:"backup_offset"` // byte offset of the backup header
	BackupFound    bool   `json:"backup_found"`  // a header signature is present at BackupOffset
	FirstUsableLBA uint64 `json:"first_usable_lba"`
	LastUsableLBA  uint64 `json:"last_usable_lba"`
	DiskGUID       string `json:"disk_guid"`
	EntriesLBA     uint64 `json:"entries_lba"`
	NumEntries     uint32 `json:"num_entries"`
	EntrySize      uint32 `json:"entry_size"`
	EntriesCRCOK   bool   `json:"entries_crc_ok"`
}

// APM is an Apple partition map (driver descriptor "ER" + "PM" entries).
type APM struct {
	// DeclaredBlockSize is the block size in the driver descriptor.
	DeclaredBlockSize int `json:"declared_block_size"`
	// BlockSize is the block size the map was actually found with; it is
	// the unit of the partition addresses.
	BlockSize int `json:"block_size"`
	// BlockCount is the device size in blocks from the driver descriptor.
	BlockCount uint32 `json:"block_count"`
}

// Partition is one partition of any scheme, addressed in bytes.
type Partition struct {
	// Scheme is "mbr", "gpt" or "apm".
	Scheme string `json:"scheme"`
	// Index is the 1-based slot in its table.
	Index int `json:"index"`
	// Type is a human name ("EFI System", "Linux", ...), or the raw code.
	Type string `json:"type"`
	// TypeCode is "0xNN" for MBR, the type GUID for GPT, the type string
	// for APM.
	TypeCode string `json:"type_code"`
	Start    int64  `json:"start"`
	Size     int64  `json:"size"`
	Bootable bool   `json:"bootable"`
	Name     string `json:"name,omitempty"`
	// BeyondVolume is set by MarkBeyond for partitions that start at or
	// after the end of the ISO volume (appended partitions).
	BeyondVolume bool `json:"beyond_volume"`
}

// MarkBeyond flags the partitions that start at or after volumeSize bytes,
// i.e. partitions appended after the ISO 9660 volume.
func (s *SystemArea) MarkBeyond(volumeSize int64) {
	for i := range s.Partitions {
		s.Partitions[i].BeyondVolume = s.Partitions[i].Start >= volumeSize
	}
}

// saReadAt reads up to n bytes at off, clipped to the image size; a short
// result means the image ends there. Only real I/O errors are returned.
func saReadAt(r io.ReaderAt, off int64, n int, size int64) ([]byte, error) {
	if off < 0 || off >= size || n <= 0 {
		return nil, nil
	}
	if rest := size - off; int64(n) > rest {
		n = int(rest)
	}
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %d bytes at byte %d: %w", n, off, err)
	}
	return b[:m], nil
}

// ReadSystemArea parses the partition tables in the image's system area.
// Damage is reported in Warnings; only read errors are returned.
func ReadSystemArea(r io.ReaderAt, size int64) (*SystemArea, error) {
	sa := &SystemArea{}
	buf, err := saReadAt(r, 0, systemAreaSize, size)
	if err != nil {
		return nil, &core.FormatError{Structure: "system area", Offset: 0, Err: err}
	}
	sa.readMBR(buf)
	if err := sa.readGPT(r, size, buf); err != nil {
		return nil, err
	}
	sa.readAPM(r, size, buf)
	return sa, nil
}

func (s *SystemArea) warn(format string, args ...any) {
	s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
}

// isohdpfxSignature is the start of isolinux's isohdp[fp]x*.bin boot code:
// "xor bp,bp" followed by a NOP sled that xorriso patches.
var isohdpfxSignature = []byte{0x33, 0xED, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}

func (s *SystemArea) readMBR(b []byte) {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return
	}
	m := &MBR{DiskSignature: binary.LittleEndian.Uint32(b[440:])}
	for _, c := range b[:440] {
		if c != 0 {
			m.BootCode = true
			break
		}
	}
	m.Isohdpfx = bytes.HasPrefix(b, isohdpfxSignature) || bytes.Contains(b[:440], []byte("isolinux.bin missing"))
	hybrid := m.Isohdpfx
	for i := range m.Entries {
		p := b[446+16*i:]
		e := MBREntry{Status: p[0], Type: p[4], StartLBA: binary.LittleEndian.Uint32(p[8:]), Sectors: binary.LittleEndian.Uint32(p[12:])}
		m.Entries[i] = e
		// fdisk and the kernel list every entry with a non-zero size,
		// whatever its type.
		if e.Sectors == 0 {
			continue
		}
		if e.Status != 0 && e.Status != 0x80 {
			s.warn("mbr entry %d has invalid status byte 0x%02x", i+1, e.Status)
		}
		if e.Type == 0xEE {
			m.Protective = true
		}
		// isohybrid and xorriso start the ISO partition at sector 0, or at
		// 64 (32 KiB) with -partition_offset 16.
		if e.Type != 0xEE && (e.StartLBA == 0 || e.StartLBA == 64) {
			hybrid = true
		}
		s.Partitions = append(s.Partitions, Partition{
			Scheme:   "mbr",
			Index:    i + 1,
			Type:     mbrTypeName(e.Type),
			TypeCode: fmt.Sprintf("0x%02x", e.Type),
			Start:    int64(e.StartLBA) * mbrSectorSize,
			Size:     int64(e.Sectors) * mbrSectorSize,
			Bootable: e.Status == 0x80,
		})
	}
	s.MBR = m
	s.IsoHybrid = hybrid
}

// mbrTypeName names the MBR partition types seen on optical and hybrid media.
func mbrTypeName(t uint8) string {
	switch t {
	case 0x00:
		return "Empty"
	case 0x01:
		return "FAT12"
	case 0x04, 0x06, 0x0e:
		return "FAT16"
	case 0x05, 0x0f:
		return "Extended"
	case 0x07:
		return "HPFS/NTFS/exFAT"
	case 0x0b, 0x0c:
		return "FAT32"
	case 0x11, 0x14, 0x16, 0x1e:
		return "Hidden FAT"
	case 0x17:
		return "Hidden HPFS/NTFS"
	case 0x1b, 0x1c:
		return "Hidden FAT32"
	case 0x82:
		return "Linux swap"
	case 0x83:
		return "Linux"
	case 0x8e:
		return "Linux LVM"
	case 0x96:
		return "ISO 9660 (CHRP)"
	case 0xa5:
		return "FreeBSD"
	case 0xa6:
		return "OpenBSD"
	case 0xa8:
		return "Darwin UFS"
	case 0xaf:
		return "HFS/HFS+"
	case 0xcd:
		return "ISO 9660 (hybrid)"
	case 0xee:
		return "GPT protective"
	case 0xef:
		return "EFI System"
	case 0xfd:
		return "Linux RAID"
	}
	return fmt.Sprintf("0x%02x", t)
}

// gptTypeNames names well-known GPT partition type GUIDs.
var gptTypeNames = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
	"7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
	"426F6F74-0000-11AA-AA11-00306543ECAC": "Apple boot",
	"9E1A2D38-C612-4316-AA26-8B49521E5A8B": "PowerPC PReP boot",
	"024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
	"516E7CB4-6ECF-11D6-8FF8-00022D09712B": "FreeBSD data",
}

// gptGUID formats a GPT GUID (first three fields little-endian).
func gptGUID(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

// gptSectorSizes are the sector sizes a GPT header is looked for with:
// 512 is the norm; xorriso can write GPTs for 2048-byte media too.
var gptSectorSizes = []int{512, 2048, 4096}

func (s *SystemArea) readGPT(r io.ReaderAt, size int64, sys []byte) error {
	const structure = "gpt header"
	var ss int
	for _, cand := range gptSectorSizes {
		if len(sys) >= 2*cand && string(sys[cand:cand+8]) == "EFI PART" {
			ss = cand
			break
		}
	}
	if ss == 0 {
		return nil
	}
	h := sys[ss : 2*ss]
	g := &GPT{
		SectorSize:     ss,
		Revision:       binary.LittleEndian.Uint32(h[8:]),
		HeaderSize:     binary.LittleEndian.Uint32(h[12:]),
		CurrentLBA:     binary.LittleEndian.Uint64(h[24:]),
		BackupLBA:      binary.LittleEndian.Uint64(h[32:]),
		FirstUsableLBA: binary.LittleEndian.Uint64(h[40:]),
		LastUsableLBA:  binary.LittleEndian.Uint64(h[48:]),
		DiskGUID:       gptGUID(h[56:72]),
		EntriesLBA:     binary.LittleEndian.Uint64(h[72:]),
		NumEntries:     binary.LittleEndian.Uint32(h[80:]),
		EntrySize:      binary.LittleEndian.Uint32(h[84:]),
	}
	s.GPT = g
	if g.HeaderSize < 92 || int(g.HeaderSize) > ss {
		s.warn("gpt header size %d is outside 92..%d: entries not read", g.HeaderSize, ss)
		return nil
	}
	hc := make([]byte, g.HeaderSize)
	copy(hc, h)
	clear(hc[16:20])
	g.HeaderCRCOK = crc32.ChecksumIEEE(hc) == binary.LittleEndian.Uint32(h[16:])
	if !g.HeaderCRCOK {
		s.warn("gpt header CRC32 mismatch")
	}
	if g.CurrentLBA != 1 {
		s.warn("gpt header says it lives at LBA %d, found at LBA 1", g.CurrentLBA)
	}
	if g.BackupLBA < 1<<40 {
		g.BackupOffset = int64(g.BackupLBA) * int64(ss)
		b, err := saReadAt(r, g.BackupOffset, 8, size)
		if err != nil {
			return &core.FormatError{Structure: "gpt backup header", Offset: g.BackupOffset, Err: err}
		}
		g.BackupFound = string(b) == "EFI PART"
	}
	if !g.BackupFound {
		s.warn("gpt backup header not found at LBA %d", g.BackupLBA)
	}
	if g.EntrySize < 128 || g.EntrySize > maxGPTEntrySize || g.EntrySize%8 != 0 {
		s.warn("gpt entry size %d is not sane: entries not read", g.EntrySize)
		return nil
	}
	if g.EntriesLBA >= 1<<40 {
		s.warn("gpt entry array LBA %d is absurd: entries not read", g.EntriesLBA)
		return nil
	}
	off := int64(g.EntriesLBA) * int64(ss)
	total := int64(g.NumEntries) * int64(g.EntrySize)
	keep := min(int64(g.NumEntries), maxGPTEntries) * int64(g.EntrySize)
	if g.NumEntries > maxGPTEntries {
		s.warn("gpt claims %d entries: only the first %d are listed", g.NumEntries, maxGPTEntries)
	}
	// Stream the CRC over the whole claimed array (up to a cap) while
	// keeping only the entries that will be listed.
	var kept []byte
	crc := crc32.NewIEEE()
	verifiable := total <= maxGPTEntryArray
	want := max(keep, 0)
	if verifiable {
		want = total
	}
	const chunk = 64 << 10
	var done int64
	for done < want {
		n := int(min(chunk, want-done))
		b, err := saReadAt(r, off+done, n, size)
		if err != nil {
			return &core.FormatError{Structure: structure + " entry array", Offset: off + done, Err: err}
		}
		crc.Write(b)
		if done < keep {
			kept = append(kept, b[:min(int64(len(b)), keep-done)]...)
		}
		done += int64(len(b))
		if len(b) < n {
			s.warn("gpt entry array runs past the image end at byte %d", off+done)
			verifiable = false
			break
		}
	}
	switch {
	case !verifiable:
		s.warn("gpt entry array CRC32 not verified (%d bytes claimed)", total)
	case crc.Sum32() != binary.LittleEndian.Uint32(h[88:]):
		s.warn("gpt entry array CRC32 mismatch")
	default:
		g.EntriesCRCOK = true
	}
	for i := 0; (i+1)*int(g.EntrySize) <= len(kept); i++ {
		e := kept[i*int(g.EntrySize):]
		if saAllZero(e[:16]) {
			continue
		}
		first := binary.LittleEndian.Uint64(e[32:])
		last := binary.LittleEndian.Uint64(e[40:])
		if last < first || last >= 1<<40 {
			s.warn("gpt entry %d has LBAs %d..%d", i+1, first, last)
			continue
		}
		typ := gptGUID(e[:16])
		name := typ
		if n, ok := gptTypeNames[typ]; ok {
			name = n
		}
		s.Partitions = append(s.Partitions, Partition{
			Scheme:   "gpt",
			Index:    i + 1,
			Type:     name,
			TypeCode: typ,
			Start:    int64(first) * int64(ss),
			Size:     int64(last-first+1) * int64(ss),
			// Attribute bit 2: legacy BIOS bootable.
			Bootable: binary.LittleEndian.Uint64(e[48:])&4 != 0,
			Name:     saUTF16Name(e[56:min(len(e), 56+72)]),
		})
	}
	return nil
}

// utf16Name decodes a NUL-terminated UTF-16LE name.
func saUTF16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func saAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// apmBlockSizes are the strides tried when the declared block size does not
// lead to a "PM" entry (old mkhybrid wrote 2048 but laid entries out at 512).
var apmBlockSizes = []int{512, 2048, 1024, 4096}

func (s *SystemArea) readAPM(r io.ReaderAt, size int64, sys []byte) {
	if len(sys) < 8 || sys[0] != 'E' || sys[1] != 'R' {
		return
	}
	a := &APM{DeclaredBlockSize: int(binary.BigEndian.Uint16(sys[2:])), BlockCount: binary.BigEndian.Uint32(sys[4:])}
	isPM := func(bs int) bool { return bs > 0 && len(sys) >= 2*bs && sys[bs] == 'P' && sys[bs+1] == 'M' }
	switch {
	case isPM(a.DeclaredBlockSize) && a.DeclaredBlockSize%512 == 0:
		a.BlockSize = a.DeclaredBlockSize
	default:
		for _, bs := range apmBlockSizes {
			if isPM(bs) {
				a.BlockSize = bs
				break
			}
		}
		if a.BlockSize == 0 {
			// "ER" alone is also plain x86 code (inc bp; push dx).
			return
		}
		s.warn("apple partition map declares block size %d but its entries are %d bytes apart: using %d", a.DeclaredBlockSize, a.BlockSize, a.BlockSize)
	}
	s.APM = a
	bs := a.BlockSize
	count := int(binary.BigEndian.Uint32(sys[bs+4:]))
	if count > maxAPMEntries {
		s.warn("apple partition map claims %d entries: only %d are read", count, maxAPMEntries)
		count = maxAPMEntries
	}
	for i := 1; i <= count; i++ {
		off := int64(i) * int64(bs)
		var e []byte
		if off+136 <= int64(len(sys)) {
			e = sys[off:]
		} else if b, err := saReadAt(r, off, 136, size); err == nil {
			e = b
		}
		if len(e) < 136 || e[0] != 'P' || e[1] != 'M' {
			s.warn("apple partition map entry %d at byte %d has no PM signature", i, off)
			break
		}
		typ := saCString(e[48:80])
		s.Partitions = append(s.Partitions, Partition{
			Scheme:   "apm",
			Index:    i,
			Type:     typ,
			TypeCode: typ,
			Start:    int64(binary.BigEndian.Uint32(e[8:])) * int64(bs),
			Size:     int64(binary.BigEndian.Uint32(e[12:])) * int64(bs),
			// pmPartStatus bit 3: bootable.
			Bootable: binary.BigEndian.Uint32(e[88:])&8 != 0,
			Name:     saCString(e[16:48]),
		})
	}
}

// cString returns b up to its first NUL, with non-printable bytes replaced.
func saCString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, string(b))
}
