package recover

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/isofsd/isofsd/isofmt"
)

// Checks of the parts of an image that lie beyond the ISO 9660 volume and
// that no checksum covers: the GPT backup header and appended partitions.
// A carved image whose tail came from the wrong place on the disk (a
// fragmented file) usually fails them, and so does a truncated download.

// tailChecks inspects the system area of the image in r (size bytes) and
// returns one check per structure beyond the volume.
func tailChecks(r io.ReaderAt, size, volume int64) []Check {
	sa, err := isofmt.ReadSystemArea(r, size)
	if err != nil {
		return []Check{{"system area", CheckUnknown, err.Error()}}
	}
	var out []Check
	if g := sa.GPT; g != nil && g.BackupOffset > 0 {
		switch {
		case g.BackupOffset >= size:
			out = append(out, Check{"GPT backup header", CheckDamaged, fmt.Sprintf("claimed at byte %d, beyond the image end", g.BackupOffset)})
		case !g.BackupFound:
			out = append(out, Check{"GPT backup header", CheckDamaged, fmt.Sprintf("missing at byte %d (the tail of the image is wrong)", g.BackupOffset)})
		default:
			out = append(out, Check{"GPT backup header", CheckOK, fmt.Sprintf("present at byte %d", g.BackupOffset)})
		}
	}
	seen := map[int64]bool{}
	for _, p := range sa.Partitions {
		if volume <= 0 || p.Start < volume || p.Size <= 0 || seen[p.Start] {
			continue
		}
		seen[p.Start] = true // the same partition in MBR and GPT is checked once
		name := fmt.Sprintf("appended partition at byte %d", p.Start)
		if p.Start+p.Size > size {
			out = append(out, Check{name, CheckDamaged, fmt.Sprintf("ends at byte %d, beyond the image end %d", p.Start+p.Size, size)})
			continue
		}
		res, detail := checkPartitionStart(r, p.Start, p.Size)
		out = append(out, Check{name, res, fmt.Sprintf("%s %s: %s", p.Scheme, p.Type, detail)})
	}
	return out
}

// checkPartitionStart recognises what an appended partition should start
// with. EFI system partitions hold FAT: boot signature, a legal sector
// size, a FAT type string and a sector count that fits the partition.
func checkPartitionStart(r io.ReaderAt, start, size int64) (string, string) {
	var b [512]byte
	if _, err := r.ReadAt(b[:], start); err != nil {
		return CheckDamaged, fmt.Sprintf("unreadable: %v", err)
	}
	if isAllZero(b[:]) {
		// xorriso covers its tail padding with a partition of zeros.
		return CheckUnknown, "first sector is all zeros (padding?)"
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return CheckUnknown, "no boot signature; contents not recognised"
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	if bps != 512 && bps != 1024 && bps != 2048 && bps != 4096 {
		return CheckUnknown, "boot sector without a FAT parameter block"
	}
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	isFAT := string(b[54:57]) == "FAT" || string(b[82:85]) == "FAT"
	if !isFAT {
		return CheckUnknown, "boot sector is not FAT"
	}
	if total*bps > size {
		return CheckDamaged, fmt.Sprintf("FAT file system claims %d bytes, the partition has %d", total*bps, size)
	}
	return CheckOK, fmt.Sprintf("FAT file system of %d bytes", total*bps)
}

func isAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
