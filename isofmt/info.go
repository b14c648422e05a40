package isofmt

import (
	"fmt"
	"io"

	"github.com/isofsd/isofsd/isofmt/udf"
)

// Info summarises an image for `isofsd info`: descriptors, trees, boot
// entries, system area, implanted checksum and warnings.
type Info struct {
	ImageSize  int64  `json:"image_size"`
	VolumeID   string `json:"volume_id"`
	VolumeSize int64  `json:"volume_size"` // bytes claimed by the primary descriptor
	// PartitionVolumeEnd is where the file system ends according to a
	// second descriptor set (xorriso -partition_offset 16), 0 if none.
	PartitionVolumeEnd int64             `json:"partition_volume_end,omitempty"`
	Truncated          bool              `json:"truncated"`
	Primary            *VolumeDescriptor `json:"primary,omitempty"`
	Joliet             *VolumeDescriptor `json:"joliet,omitempty"`
	Enhanced           *VolumeDescriptor `json:"enhanced,omitempty"`
	Descriptors        []Descriptor      `json:"descriptors"`
	DescriptorSets     []int64           `json:"descriptor_sets"`
	Trees              []string          `json:"trees"`
	Tree               string            `json:"tree"`
	RockRidgeVersion   []string          `json:"rock_ridge_extensions,omitempty"`
	// RockRidgeAfterXA is set when the root's SUSP area starts after a
	// 14-byte CD-XA system-use field (genisoimage -XA and other XA
	// writers): Rock Ridge was found there, as Linux (RR_REGARD_XA) and
	// 7-Zip look for it.
	RockRidgeAfterXA bool `json:"rock_ridge_after_xa,omitempty"`
	// Boot is the El Torito boot catalog, nil when there is none.
	Boot *BootCatalog `json:"boot,omitempty"`
	// SystemArea holds the MBR / GPT / APM partitioning, nil when none.
	SystemArea *SystemArea `json:"system_area,omitempty"`
	// MD5 is the isomd5sum field of the primary descriptor, nil when absent.
	MD5 *ImplantedMD5 `json:"implanted_md5,omitempty"`
	// UDF describes the UDF volume, nil when there is none.
	UDF      *udf.Info `json:"udf,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Info describes the image. Parts beyond the descriptors (boot catalog,
// partition tables) are read on the first call.
func (img *Image) Info() *Info {
	v := img.vol
	v.infoOnce.Do(func() {
		in := &Info{ImageSize: img.size, PartitionVolumeEnd: v.partitionVolumeEnd, Primary: v.pvd, Joliet: v.joliet, Enhanced: v.evd,
			Descriptors: v.descs, DescriptorSets: v.sets, Trees: append([]string(nil), v.order...), RockRidgeVersion: v.rrExt, RockRidgeAfterXA: v.rrAfterXA}
		if v.pvd != nil {
			in.VolumeID = v.pvd.VolumeID
			in.VolumeSize = v.pvd.VolumeBytes()
			in.Truncated = in.VolumeSize > img.size
			if m, ok := ParseImplantedMD5(v.pvd.ApplicationUse); ok {
				in.MD5 = m
			}
		}
		if v.hasBoot {
			if bc, err := ReadBootCatalog(img.cache, img.size, v.bootLBA); err != nil {
				v.warn(fmt.Sprintf("el torito: %v", err))
			} else {
				in.Boot = bc
				for _, w := range bc.Warnings {
					v.warn("el torito: " + w)
				}
			}
		}
		if sa, err := ReadSystemArea(img.cache, img.size); err != nil {
			v.warn(fmt.Sprintf("system area: %v", err))
		} else if sa != nil && (sa.MBR != nil || sa.GPT != nil || sa.APM != nil) {
			if end := in.VolumeEnd(); end > 0 {
				sa.MarkBeyond(end)
			}
			in.SystemArea = sa
			for _, w := range sa.Warnings {
				v.warn("system area: " + w)
			}
		}
		in.UDF = img.UDFInfo()
		v.info = in
	})
	out := *v.info
	out.Tree = img.Tree()
	out.Warnings = img.Warnings()
	return &out
}

// BootImages lists the boot catalog entries that hold data to present as
// files (Size > 0), in catalog order; nil when the image has no catalog.
// It is the one rule for mount's boot directory and extract's [BOOT]: the
// names (BootEntry.Name, "boot-N-platform.img") are made here from the
// entry index, so they are distinct single path elements by construction.
func (img *Image) BootImages() []BootEntry {
	bc := img.Info().Boot
	if bc == nil {
		return nil
	}
	var out []BootEntry
	for _, e := range bc.Entries {
		if e.Size > 0 {
			out = append(out, e)
		}
	}
	return out
}

// BootImage returns a reader over the bytes of a boot catalog entry.
func (img *Image) BootImage(e BootEntry) io.ReaderAt {
	return io.NewSectionReader(img.src, e.Offset, e.Size)
}

// Label is the volume label people know the image by: the primary
// descriptor's volume identifier, or, on UDF-only media (Windows and some
// Blu-ray images), which carry it in the UDF descriptors alone, the UDF
// logical volume identifier. It is the image's own bytes: callers that
// make names or paths from it must sanitize it.
func (in *Info) Label() string {
	if in.Primary == nil && in.UDF != nil {
		return in.UDF.LogicalVolumeID
	}
	return in.VolumeID
}

// VolumeEnd is the byte offset where the ISO 9660 file system ends: the
// primary descriptor's volume size, or, when a second descriptor set
// exists (xorriso -partition_offset), the end that set gives, since the
// first set then spans the appended partitions as well.
func (in *Info) VolumeEnd() int64 {
	if in.PartitionVolumeEnd > 0 {
		return in.PartitionVolumeEnd
	}
	return in.VolumeSize
}
