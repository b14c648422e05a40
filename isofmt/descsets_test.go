package isofmt_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestPartitionOffset: xorriso -partition_offset 16 writes a second
// descriptor set for the partition seen on its own. Both the whole image
// and the partition alone must open with the same tree, and the appended
// EFI partition must be reported beyond the file system.
func TestPartitionOffset(t *testing.T) {
	isotest.RequireTool(t, "xorriso", "mkfs.vfat")
	dir := t.TempDir()
	efi := filepath.Join(dir, "efi.img")
	f, _ := os.Create(efi)
	f.Truncate(1440 << 10)
	f.Close()
	isotest.Run(t, "mkfs.vfat", efi)
	out := filepath.Join(dir, "po.iso")
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-partition_offset", "16", "-append_partition", "2", "0xef", efi, "-o", out, featureSource(t)+"/sizes")
	img, err := isofmt.OpenFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	in := img.Info()
	if !slices.Equal(in.DescriptorSets, []int64{16, 32}) {
		t.Fatalf("descriptor sets %v, want [16 32]", in.DescriptorSets)
	}
	if in.PartitionVolumeEnd <= 16*2048 || in.PartitionVolumeEnd >= in.VolumeSize {
		t.Errorf("partition volume end %d, volume size %d", in.PartitionVolumeEnd, in.VolumeSize)
	}
	if in.SystemArea == nil {
		t.Fatal("no system area found")
	}
	appended := 0
	for _, p := range in.SystemArea.Partitions {
		if p.BeyondVolume {
			appended++
			if p.Size != 1440<<10 {
				t.Errorf("appended partition size %d, want %d", p.Size, 1440<<10)
			}
		}
	}
	if appended != 1 {
		t.Errorf("%d partitions beyond the volume, want 1: %+v", appended, in.SystemArea.Partitions)
	}
	whole := isotest.SnapshotFS(t, img, nil)
	src, _ := os.Open(out)
	defer src.Close()
	st, _ := src.Stat()
	part, err := isofmt.Open(io.NewSectionReader(src, 16*2048, st.Size()-16*2048), st.Size()-16*2048, nil)
	if err != nil {
		t.Fatalf("opening the partition alone: %v", err)
	}
	isotest.Compare(t, whole, isotest.SnapshotFS(t, part, nil), isotest.CompareOptions{})
	if len(whole) != 7 {
		t.Errorf("%d entries, want the 7 files of sizes/", len(whole))
	}
}

// TestEnhancedDescriptor: ISO 9660:1999 images carry an enhanced volume
// descriptor (a supplementary descriptor of version 2).
func TestEnhancedDescriptor(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	out := filepath.Join(t.TempDir(), "e.iso")
	isotest.Run(t, "xorriso", "-outdev", out, "-compliance", "iso_9660_1999", "-map", featureSource(t)+"/names", "/")
	img, err := isofmt.OpenFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	in := img.Info()
	if in.Enhanced == nil {
		t.Fatalf("no enhanced descriptor; descriptors %+v", in.Descriptors)
	}
	if _, err := fs.Stat(img, "FéжΘvrier.txt"); err != nil {
		t.Error(err)
	}
}
