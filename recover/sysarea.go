package recover

import (
	"fmt"
	"io"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// structureEnds returns every end an image's structures claim beyond the
// ISO 9660 volume size: isohybrid MBR/GPT/APM partitions (an appended EFI
// partition lies past the volume), the GPT backup header (xorriso puts it
// in the image's last sector) and El Torito boot images. r holds the image
// from its start; size is how much of it the source has. All of it comes
// from isofmt's parsers; this only collects the numbers.
func structureEnds(r io.ReaderAt, size int64, in *isofmt.Info) []SizeSource {
	var out []SizeSource
	if sa, err := isofmt.ReadSystemArea(r, size); err == nil {
		for _, p := range sa.Partitions {
			// A protective MBR entry claims "the whole disk", often
			// 0xFFFFFFFF sectors: no evidence about this image.
			if p.Scheme == "mbr" && strings.EqualFold(p.TypeCode, "0xee") {
				continue
			}
			if p.Size > 0 {
				out = append(out, SizeSource{fmt.Sprintf("%s partition %d end", strings.ToUpper(p.Scheme), p.Index), p.Start + p.Size})
			}
		}
		if g := sa.GPT; g != nil && g.BackupOffset > 0 && g.BackupFound {
			out = append(out, SizeSource{"GPT backup header end", g.BackupOffset + int64(g.SectorSize)})
		}
	}
	if in == nil {
		return out
	}
	for _, d := range in.Descriptors {
		if !strings.Contains(d.Type, "El Torito") {
			continue
		}
		sec := make([]byte, isofmt.SectorSize)
		if _, err := r.ReadAt(sec, d.Sector*isofmt.SectorSize); err != nil {
			break
		}
		lba, ok := isofmt.ParseBootRecord(sec)
		if !ok {
			break
		}
		cat, err := isofmt.ReadBootCatalog(r, size, lba)
		if err != nil {
			break
		}
		for _, e := range cat.Entries {
			if e.Size > 0 {
				out = append(out, SizeSource{fmt.Sprintf("El Torito entry %d (%s) end", e.Index, e.Platform), e.Offset + e.Size})
			}
		}
		break
	}
	return out
}
