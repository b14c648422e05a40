package isofmt

// El Torito boot catalog (El Torito Bootable CD-ROM Format Specification
// 1.0): the boot record volume descriptor points at a catalog of 32-byte
// entries — a validation entry, the default entry, then optional section
// headers each followed by their section entries. Every entry names a boot
// image by LBA and a sector count whose meaning depends on the emulation
// type, so resolving an entry to a byte range is the interesting part.

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

const (
	// bootSectorSize is the CD-ROM sector size the catalog and boot image
	// LBAs are counted in, independent of the volume's logical block size.
	bootSectorSize = 2048
	// bootEntrySize is the size of every catalog entry.
	bootEntrySize = 32
	// bootVirtualSector is the unit of the sector count field ("virtual
	// sectors" of 512 bytes).
	bootVirtualSector = 512
	// maxBootCatalogSectors caps how far the catalog is followed. xorriso
	// allows 32 boot images, which fit in one sector; a catalog claiming
	// more than a few sectors is damaged or hostile.
	maxBootCatalogSectors = 4
	// maxBootEntries caps the number of boot entries reported, whatever the
	// section headers claim.
	maxBootEntries = 64
)

// El Torito catalog entry markers.
const (
	bootHeaderValidation = 0x01
	bootHeaderMore       = 0x90 // section header, more headers follow
	bootHeaderFinal      = 0x91 // last section header
	bootIndicatorBoot    = 0x88
	bootIndicatorNoBoot  = 0x00
	bootExtensionEntry   = 0x44
	bootMediaContinue    = 0x20 // media-type bit: an extension entry follows
	bootExtContinue      = 0x20 // extension bit: another extension follows
)

// Fixed sizes of the floppy emulations (byte sizes of the diskettes).
const (
	floppy12Size  = 1228800
	floppy144Size = 1474560
	floppy288Size = 2949120
)

// BootCatalog is a parsed El Torito boot catalog.
type BootCatalog struct {
	// LBA is the catalog's sector.
	LBA uint32 `json:"lba"`
	// Entries lists the default entry first, then every section entry in
	// catalog order.
	Entries []BootEntry `json:"entries"`
	// Warnings lists recoverable problems (bad checksum, clamped sizes,
	// truncated catalog).
	Warnings []string `json:"warnings,omitempty"`
}

// BootEntry is one bootable (or not bootable) image named by the catalog.
type BootEntry struct {
	// Index is the 1-based position among the entries (1 = default entry).
	Index int `json:"index"`
	// Section is 0 for the default entry, else the 1-based section number.
	Section int `json:"section"`
	// Platform is "bios", "uefi", "ppc", "mac", or "0xNN" for unknown IDs.
	Platform   string `json:"platform"`
	PlatformID uint8  `json:"platform_id"`
	Bootable   bool   `json:"bootable"`
	// Emulation is "none", "1.2M floppy", "1.44M floppy", "2.88M floppy",
	// "hard disk", or "0xNN" for unknown media types.
	Emulation   string `json:"emulation"`
	LoadSegment uint16 `json:"load_segment"`
	SystemType  uint8  `json:"system_type"`
	// SectorCount is the raw count of 512-byte virtual sectors.
	SectorCount uint16 `json:"sector_count"`
	// LBA is the boot image's 2048-byte sector.
	LBA uint32 `json:"lba"`
	// Offset is the boot image's byte offset in the image.
	Offset int64 `json:"offset"`
	// Size is the resolved size of the boot image in bytes, clamped to the
	// end of the image.
	Size int64 `json:"size"`
	// SizeSource says how Size was found: "sector count", "floppy
	// emulation", "mbr in boot image", "fat boot sector"; ", clamped to
	// image end" is appended when the image ends early.
	SizeSource string `json:"size_source"`
	// Name is a file name for the extracted image, e.g. "boot-1-bios.img":
	// made from Index and Platform, so distinct and one path element.
	Name string `json:"name"`
}

// ParseBootRecord recognises an El Torito boot record volume descriptor and
// returns the boot catalog's LBA from it.
func ParseBootRecord(sector []byte) (catalogLBA uint32, ok bool) {
	const id = "EL TORITO SPECIFICATION"
	if len(sector) < 0x4B || sector[0] != 0 || string(sector[1:6]) != "CD001" || sector[6] != 1 {
		return 0, false
	}
	// Only the identifier's text is compared: the padding of the 32-byte
	// field should be zeros, but readers (Linux isoinfo, libisofs) do not
	// insist and neither do we.
	if string(sector[7:7+len(id)]) != id {
		return 0, false
	}
	return binary.LittleEndian.Uint32(sector[0x47:]), true
}

// bootPlatform names an El Torito platform ID.
func bootPlatform(id uint8) string {
	switch id {
	case 0x00:
		return "bios"
	case 0x01:
		return "ppc"
	case 0x02:
		return "mac"
	case 0xEF:
		return "uefi"
	}
	return fmt.Sprintf("0x%02x", id)
}

// bootEmulation names the low nibble of a media-type byte.
func bootEmulation(media uint8) string {
	switch media & 0x0F {
	case 0:
		return "none"
	case 1:
		return "1.2M floppy"
	case 2:
		return "1.44M floppy"
	case 3:
		return "2.88M floppy"
	case 4:
		return "hard disk"
	}
	return fmt.Sprintf("0x%02x", media&0x0F)
}

// bootCatalogReader hands out catalog entries, reading sectors on demand so
// that a catalog that runs past its sector is noticed rather than trusted.
type bootCatalogReader struct {
	r    io.ReaderAt
	size int64
	off  int64 // byte offset of the catalog
	buf  []byte
}

// entry returns catalog entry i, or nil with a reason when it lies beyond
// the cap or the image.
func (c *bootCatalogReader) entry(i int) ([]byte, string, error) {
	start := i * bootEntrySize
	if start+bootEntrySize > maxBootCatalogSectors*bootSectorSize {
		return nil, fmt.Sprintf("boot catalog continues past %d sectors: rest ignored", maxBootCatalogSectors), nil
	}
	for start+bootEntrySize > len(c.buf) {
		sec := int64(len(c.buf))
		b, err := saReadAt(c.r, c.off+sec, bootSectorSize, c.size)
		if err != nil {
			return nil, "", err
		}
		if len(b) < bootEntrySize {
			return nil, fmt.Sprintf("boot catalog runs past the end of the image at byte %d", c.off+sec+int64(len(b))), nil
		}
		c.buf = append(c.buf, b...)
	}
	return c.buf[start : start+bootEntrySize], "", nil
}

// ReadBootCatalog parses the El Torito boot catalog at catalogLBA and
// resolves every entry's boot image to a byte range of the image.
func ReadBootCatalog(r io.ReaderAt, size int64, catalogLBA uint32) (*BootCatalog, error) {
	const structure = "el torito boot catalog"
	off := int64(catalogLBA) * bootSectorSize
	if off+bootEntrySize > size {
		return nil, core.Errorf(structure, off, core.ErrTruncated, "catalog LBA %d lies beyond the image end (%d bytes)", catalogLBA, size)
	}
	cr := &bootCatalogReader{r: r, size: size, off: off}
	cat := &BootCatalog{LBA: catalogLBA}
	warn := func(format string, args ...any) { cat.Warnings = append(cat.Warnings, fmt.Sprintf(format, args...)) }

	v, _, err := cr.entry(0)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, core.Errorf(structure, off, core.ErrTruncated, "validation entry cut off by the image end")
	}
	if v[0] != bootHeaderValidation || v[30] != 0x55 || v[31] != 0xAA {
		return nil, core.Errorf(structure, off, core.ErrCorrupt, "no validation entry (header 0x%02x, key bytes 0x%02x 0x%02x)", v[0], v[30], v[31])
	}
	var sum uint16
	for i := 0; i < bootEntrySize; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	if sum != 0 {
		// Firmware rejects such a catalog, but the entries are usually
		// still meaningful, so report and carry on.
		warn("validation entry checksum does not sum to zero (sum 0x%04x)", sum)
	}
	platform := v[1]

	add := func(e []byte, section int, pid uint8) {
		be := BootEntry{
			Index:       len(cat.Entries) + 1,
			Section:     section,
			Platform:    bootPlatform(pid),
			PlatformID:  pid,
			Bootable:    e[0] == bootIndicatorBoot,
			Emulation:   bootEmulation(e[1]),
			LoadSegment: binary.LittleEndian.Uint16(e[2:]),
			SystemType:  e[4],
			SectorCount: binary.LittleEndian.Uint16(e[6:]),
			LBA:         binary.LittleEndian.Uint32(e[8:]),
		}
		be.Offset = int64(be.LBA) * bootSectorSize
		be.Name = fmt.Sprintf("boot-%d-%s.img", be.Index, be.Platform)
		if e[1]&0x0F > 4 {
			warn("entry %d: unknown media type 0x%02x", be.Index, e[1])
		}
		resolveBootSize(r, size, &be, warn)
		cat.Entries = append(cat.Entries, be)
	}

	d, why, err := cr.entry(1)
	if err != nil {
		return nil, err
	}
	if d == nil {
		warn("%s", why)
		return cat, nil
	}
	if d[0] != bootIndicatorBoot && d[0] != bootIndicatorNoBoot {
		return nil, core.Errorf(structure, off+bootEntrySize, core.ErrCorrupt, "default entry has boot indicator 0x%02x", d[0])
	}
	add(d, 0, platform)

	// Section headers follow until a final header (0x91) or an entry that
	// is not a header (normally all zeros: the end of the catalog).
	idx := 2
	for section := 1; ; section++ {
		h, why, err := cr.entry(idx)
		if err != nil {
			return nil, err
		}
		if h == nil {
			warn("%s", why)
			return cat, nil
		}
		if h[0] != bootHeaderMore && h[0] != bootHeaderFinal {
			if h[0] != 0 {
				warn("entry at byte %d: unexpected header byte 0x%02x, catalog end assumed", off+int64(idx)*bootEntrySize, h[0])
			}
			break
		}
		idx++
		pid := h[1]
		n := int(binary.LittleEndian.Uint16(h[2:]))
		for k := 0; k < n; k++ {
			if len(cat.Entries) >= maxBootEntries {
				warn("more than %d boot entries: rest ignored", maxBootEntries)
				return cat, nil
			}
			e, why, err := cr.entry(idx)
			if err != nil {
				return nil, err
			}
			if e == nil {
				warn("section %d claims %d entries: %s", section, n, why)
				return cat, nil
			}
			if e[0] != bootIndicatorBoot && e[0] != bootIndicatorNoBoot {
				warn("section %d entry %d has boot indicator 0x%02x: section ends early", section, k+1, e[0])
				break
			}
			idx++
			add(e, section, pid)
			// Skip the chain of section entry extensions.
			more := e[1]&bootMediaContinue != 0
			for more {
				x, why, err := cr.entry(idx)
				if err != nil {
					return nil, err
				}
				if x == nil {
					warn("%s", why)
					return cat, nil
				}
				if x[0] != bootExtensionEntry {
					warn("section %d entry %d announces an extension but byte %d holds 0x%02x", section, k+1, off+int64(idx)*bootEntrySize, x[0])
					break
				}
				idx++
				more = x[1]&bootExtContinue != 0
			}
		}
		if h[0] == bootHeaderFinal {
			break
		}
	}
	if idx*bootEntrySize > bootSectorSize {
		warn("boot catalog spans %d bytes, more than one sector", idx*bootEntrySize)
	}
	return cat, nil
}

// resolveBootSize fills e.Size and e.SizeSource.
func resolveBootSize(r io.ReaderAt, size int64, e *BootEntry, warn func(string, ...any)) {
	declared := int64(e.SectorCount) * bootVirtualSector
	if e.Offset >= size {
		e.Size, e.SizeSource = 0, "beyond image end"
		warn("entry %d: boot image at LBA %d lies beyond the image end", e.Index, e.LBA)
		return
	}
	switch e.Emulation {
	case "1.2M floppy":
		e.Size, e.SizeSource = floppy12Size, "floppy emulation"
	case "1.44M floppy":
		e.Size, e.SizeSource = floppy144Size, "floppy emulation"
	case "2.88M floppy":
		e.Size, e.SizeSource = floppy288Size, "floppy emulation"
	case "hard disk":
		// The image is a disk with an MBR; the disk ends where its last
		// partition ends.
		b, err := saReadAt(r, e.Offset, 512, size)
		if end := mbrDiskEnd(b); err == nil && end > 0 {
			e.Size, e.SizeSource = end, "mbr in boot image"
		} else {
			e.Size, e.SizeSource = declared, "sector count"
			warn("entry %d: hard disk emulation image has no usable MBR, using the sector count", e.Index)
		}
	default:
		e.Size, e.SizeSource = declared, "sector count"
		// UEFI entries commonly say 0 or 1 (the 16-bit count cannot hold
		// a large ESP) or a short count; the FAT image knows its size.
		if e.SectorCount <= 1 || e.PlatformID == 0xEF {
			b, err := saReadAt(r, e.Offset, 512, size)
			if fat := fatVolumeSize(b); err == nil && fat > declared {
				e.Size, e.SizeSource = fat, "fat boot sector"
			}
		}
		if e.Size == 0 {
			warn("entry %d: sector count 0 and no FAT boot sector: size unknown", e.Index)
		}
	}
	if e.Offset+e.Size > size {
		warn("entry %d: boot image (%d bytes at byte %d) clamped to the image end", e.Index, e.Size, e.Offset)
		e.Size = size - e.Offset
		e.SizeSource += ", clamped to image end"
	}
}

// mbrDiskEnd returns the byte offset where the last partition of the MBR in
// b ends, or 0 when b holds no MBR with partitions.
func mbrDiskEnd(b []byte) int64 {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return 0
	}
	var end int64
	for i := 0; i < 4; i++ {
		p := b[446+16*i:]
		start := int64(binary.LittleEndian.Uint32(p[8:]))
		n := int64(binary.LittleEndian.Uint32(p[12:]))
		if p[4] != 0 && n > 0 && (start+n)*512 > end {
			end = (start + n) * 512
		}
	}
	return end
}

// fatVolumeSize returns the size in bytes a FAT boot sector declares, or 0
// when b does not look like a FAT boot sector.
func fatVolumeSize(b []byte) int64 {
	if len(b) < 512 || (b[0] != 0xEB && b[0] != 0xE9) {
		return 0
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := b[13]
	fats := b[16]
	if bps != 512 && bps != 1024 && bps != 2048 && bps != 4096 {
		return 0
	}
	if spc == 0 || spc&(spc-1) != 0 || fats == 0 || fats > 4 || binary.LittleEndian.Uint16(b[14:]) == 0 {
		return 0
	}
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	return total * bps
}
