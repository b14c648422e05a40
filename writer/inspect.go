package writer

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/usbboot"
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
	// USB says how the image boots from a USB drive (nil when not an ISO).
	USB *usbboot.Report `json:"usb,omitempty"`
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
	// The richest tree (UDF on Windows media, whose ISO 9660 tree holds
	// only README.TXT) tells how the image boots from USB.
	in.USB = usbboot.Inspect(img)
	in.WindowsInstall = in.USB.Windows != nil && !in.IsoHybrid
	in.Warnings = append(in.Warnings, in.USB.Warnings...)
	return in
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
		b.WriteString(", no partition table (not isohybrid)")
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
