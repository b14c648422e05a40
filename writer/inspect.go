package writer

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// Inspection is what isofmt found in the image before writing.
type Inspection struct {
	// ISO is true when isofmt recognised an ISO 9660 or UDF volume; raw
	// disk images (.img) are written as they are.
	ISO      bool     `json:"iso"`
	VolumeID string   `json:"volume_id,omitempty"`
	Trees    []string `json:"trees,omitempty"`
	// MBR and GPT report a partition table in the system area; IsoHybrid
	// means the image is made to boot when copied raw to a USB drive.
	MBR       bool `json:"mbr"`
	GPT       bool `json:"gpt"`
	IsoHybrid bool `json:"isohybrid"`
	// WindowsInstall marks Windows installation media (sources/install.wim
	// or install.esd plus bootmgr) without an isohybrid system area.
	WindowsInstall bool `json:"windows_install"`
	// MD5 is the implanted isomd5sum field, nil when absent.
	MD5 *isofmt.ImplantedMD5 `json:"implanted_md5,omitempty"`
	// VolumeSectors is the ISO volume size in 2048-byte sectors.
	VolumeSectors int64 `json:"volume_sectors,omitempty"`
	// Partial means only the head of a stream could be inspected.
	Partial bool `json:"partial,omitempty"`
	// NotISO says why isofmt did not recognise the image, if it did not.
	NotISO   string   `json:"not_iso,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

const windowsExplanation = "this is a Windows installation image (sources/install.wim or install.esd, bootmgr) " +
	"without an isohybrid MBR/GPT: a raw copy will not boot from a USB drive, because firmware " +
	"does not boot an ISO 9660/UDF file system from a USB disk. Windows USB media need a FAT32 " +
	"(or NTFS+UEFI:NTFS) partition with the files copied and install.wim split below 4 GiB; " +
	"a Windows-media mode for this is planned separately"

// Inspect looks at the image with isofmt: the whole image for files and
// devices, the buffered head for streams.
func Inspect(src *Source) *Inspection {
	in := &Inspection{}
	var r io.ReaderAt
	size := src.Size
	if src.ra != nil {
		r = src.ra
	} else {
		r = bytes.NewReader(src.prefix)
		if size < 0 || size > int64(len(src.prefix)) {
			in.Partial = true
			size = int64(len(src.prefix))
		}
	}
	// Raw disk images (not ISO) may carry a partition table too.
	if sa, err := isofmt.ReadSystemArea(r, size); err == nil && sa != nil {
		in.MBR = sa.MBR != nil
		in.GPT = sa.GPT != nil
		in.IsoHybrid = sa.IsoHybrid
		in.Warnings = append(in.Warnings, sa.Warnings...)
	}
	img, err := isofmt.Open(r, size, nil)
	if err != nil {
		in.NotISO = err.Error()
		return in
	}
	defer img.Close()
	in.ISO = true
	info := img.Info()
	in.VolumeID = info.VolumeID
	in.VolumeSectors = info.VolumeSize / isofmt.SectorSize
	in.MD5 = info.MD5
	in.Trees = img.Trees()
	in.Warnings = append(in.Warnings, img.Warnings()...)
	// Windows media keep the real tree in UDF; try every tree, since the
	// ISO 9660 tree of oscdimg images holds only README.TXT.
	for _, tree := range img.Trees() {
		t, err := img.WithTree(tree)
		if err != nil {
			continue
		}
		wim := findFold(t, "sources", "install.wim") || findFold(t, "sources", "install.esd")
		boot := findFold(t, "bootmgr")
		if wim && boot {
			in.WindowsInstall = !in.IsoHybrid
			break
		}
	}
	return in
}

// maxFoldEntries bounds the directory listings findFold looks through.
const maxFoldEntries = 4096

// findFold reports whether the path of components exists in fsys,
// matching names case-insensitively (ISO 9660 names are upper case,
// UDF names keep the case the author chose).
func findFold(fsys fs.FS, components ...string) bool {
	dir := "."
	for _, c := range components {
		ents, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return false
		}
		found := ""
		for i, e := range ents {
			if i >= maxFoldEntries {
				break
			}
			name := strings.TrimSuffix(e.Name(), ";1")
			if strings.EqualFold(name, c) || strings.EqualFold(strings.TrimSuffix(name, "."), c) {
				found = e.Name()
				break
			}
		}
		if found == "" {
			return false
		}
		if dir == "." {
			dir = found
		} else {
			dir = dir + "/" + found
		}
	}
	return true
}

// Summary is a one-line description for the confirmation prompt.
func (in *Inspection) Summary() string {
	if !in.ISO {
		pt := ""
		switch {
		case in.GPT:
			pt = " with a GPT partition table"
		case in.MBR:
			pt = " with an MBR partition table"
		}
		return "not an ISO 9660/UDF image: it will be written as a raw disk image" + pt
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ISO image %q (%s)", in.VolumeID, strings.Join(in.Trees, ", "))
	switch {
	case in.IsoHybrid:
		b.WriteString(", isohybrid")
	case in.MBR || in.GPT:
		b.WriteString(", has a partition table")
	default:
		b.WriteString(", not isohybrid: it may not boot from a USB drive")
	}
	if in.MBR {
		b.WriteString(", MBR")
	}
	if in.GPT {
		b.WriteString(", GPT")
	}
	if in.MD5 != nil {
		b.WriteString(", implanted MD5")
	}
	if in.Partial {
		b.WriteString(" (inspected from the first 32 MiB only)")
	}
	return b.String()
}
