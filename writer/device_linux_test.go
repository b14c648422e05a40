//go:build linux

package writer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSys builds a sysfs tree: files maps paths (relative to the root) to
// contents, links maps link paths to targets (relative links as in sysfs).
func fakeSys(t *testing.T, files map[string]string, links map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") { // a directory only
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range links {
		full := filepath.Join(root, l)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestSysfsProbe runs the Linux probe over synthetic sysfs trees shaped
// like real machines: a USB stick whose partition carries a mounted
// device-mapper volume, an SD card, an NVMe disk and a SATA disk holding a
// swap file.
func TestSysfsProbe(t *testing.T) {
	// The SATA disk gets the device number of the file system under the
	// test's temporary directory, so a real swap file there matches it.
	swapDir := t.TempDir()
	swapFile := filepath.Join(swapDir, "swapfile")
	os.WriteFile(swapFile, nil, 0o600)
	var st unix.Stat_t
	if err := unix.Stat(swapFile, &st); err != nil {
		t.Fatal(err)
	}
	tmpDev := devNum(st.Dev).String()

	const usb = "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0"
	const mmc = "devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
	const nvme = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
	const ata = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"
	files := map[string]string{
		"devices/pci0000:00/0000:00:14.0/usb2/2-1/serial": "4C530001234567",
		usb + "/vendor":                             "SanDisk ",
		usb + "/model":                              "Cruzer Blade    ",
		usb + "/block/sdb/dev":                      "8:16",
		usb + "/block/sdb/size":                     "60062500",
		usb + "/block/sdb/ro":                       "0",
		usb + "/block/sdb/removable":                "0", // many enclosures say 0
		usb + "/block/sdb/queue/logical_block_size": "512",
		usb + "/block/sdb/sdb1/partition":           "1",
		usb + "/block/sdb/sdb1/dev":                 "8:17",
		usb + "/block/sdb/sdb1/holders/dm-0/":       "",
		"devices/virtual/block/dm-0/dev":            "253:0",
		"devices/virtual/block/dm-0/size":           "60000000",
		"devices/virtual/block/dm-0/slaves/sdb1/":   "",

		mmc + "/name":                              "SC64G",
		mmc + "/serial":                            "0x1234abcd",
		mmc + "/block/mmcblk0/dev":                 "179:0",
		mmc + "/block/mmcblk0/size":                "124735488",
		mmc + "/block/mmcblk0/ro":                  "0",
		mmc + "/block/mmcblk0/removable":           "0",
		mmc + "/block/mmcblk0/mmcblk0p1/partition": "1",
		mmc + "/block/mmcblk0/mmcblk0p1/dev":       "179:1",

		nvme + "/model":                            "Samsung SSD 980",
		nvme + "/serial":                           "S64DNX0R",
		nvme + "/nvme0n1/dev":                      "259:0",
		nvme + "/nvme0n1/size":                     "1953525168",
		nvme + "/nvme0n1/ro":                       "0",
		nvme + "/nvme0n1/removable":                "0",
		nvme + "/nvme0n1/queue/logical_block_size": "4096",
		nvme + "/nvme0n1/nvme0n1p2/partition":      "2",
		nvme + "/nvme0n1/nvme0n1p2/dev":            "259:2",

		ata + "/vendor":              "ATA     ",
		ata + "/model":               "WDC WD10EZEX",
		ata + "/block/sda/dev":       tmpDev,
		ata + "/block/sda/size":      "1953525168",
		ata + "/block/sda/ro":        "1",
		ata + "/block/sda/removable": "0",
	}
	links := map[string]string{
		"block/sdb":                   "../" + usb + "/block/sdb",
		usb + "/block/sdb/device":     "../../../6:0:0:0",
		"block/dm-0":                  "../devices/virtual/block/dm-0",
		"block/mmcblk0":               "../" + mmc + "/block/mmcblk0",
		mmc + "/block/mmcblk0/device": "../../../mmc0:aaaa",
		"block/nvme0n1":               "../" + nvme + "/nvme0n1",
		nvme + "/nvme0n1/device":      "../../nvme0",
		"block/sda":                   "../" + ata + "/block/sda",
		ata + "/block/sda/device":     "../../../0:0:0:0",
	}
	root := fakeSys(t, files, links)
	mi := filepath.Join(root, "mountinfo")
	os.WriteFile(mi, []byte(strings.Join([]string{
		"1 0 259:2 / / rw - ext4 /dev/nvme0n1p2 rw",
		"2 1 253:0 / /home rw shared:2 - ext4 /dev/mapper/secret rw",
	}, "\n")+"\n"), 0o644)
	swaps := filepath.Join(root, "swaps")
	os.WriteFile(swaps, []byte("Filename\tType\tSize\tUsed\tPriority\n"+swapFile+" file 1024 0 -2\n"), 0o644)

	devs, err := ListDevices(&ProbeOptions{SysRoot: root, MountInfo: mi, Swaps: swaps})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Device{}
	for _, d := range devs {
		byName[d.Name] = d
	}
	for _, tc := range []struct {
		name      string
		transport Transport
		model     string
		serial    string
		size      int64
		eligible  bool
		problems  []ProblemCode
		mounts    []string
	}{
		{"sdb", TransportUSB, "Cruzer Blade", "4C530001234567", 60062500 * 512, false, []ProblemCode{ProblemMounted}, []string{"dm-0 /home"}},
		{"mmcblk0", TransportMMC, "SC64G", "0x1234abcd", 124735488 * 512, true, nil, nil},
		{"nvme0n1", TransportNVMe, "Samsung SSD 980", "S64DNX0R", 1953525168 * 512, false, []ProblemCode{ProblemTransport, ProblemSystem, ProblemMounted}, []string{"nvme0n1p2 /"}},
		{"sda", TransportSATA, "WDC WD10EZEX", "", 1953525168 * 512, false, []ProblemCode{ProblemTransport, ProblemReadOnly, ProblemSwap}, nil},
		{"dm-0", TransportVirtual, "", "", 60000000 * 512, false, []ProblemCode{ProblemTransport, ProblemMounted}, []string{"dm-0 /home"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := byName[tc.name]
			if d == nil {
				t.Fatalf("not listed; got %v", devs)
			}
			if d.Transport != tc.transport || d.Model != tc.model || d.Serial != tc.serial || d.Size != tc.size {
				t.Errorf("got transport %s model %q serial %q size %d", d.Transport, d.Model, d.Serial, d.Size)
			}
			var codes []ProblemCode
			for _, p := range d.Problems {
				codes = append(codes, p.Code)
			}
			if d.Eligible != tc.eligible || !slices.Equal(codes, tc.problems) {
				t.Errorf("eligible %v problems %v, want %v %v (%s)", d.Eligible, codes, tc.eligible, tc.problems, d.Verdict())
			}
			var mounts []string
			for _, m := range d.Mounts {
				mounts = append(mounts, m.Device+" "+m.MountPoint)
			}
			if !slices.Equal(mounts, tc.mounts) {
				t.Errorf("mounts %v, want %v", mounts, tc.mounts)
			}
		})
	}
	if d := byName["sdb"]; d.Vendor != "SanDisk" || !slices.Equal(d.Holders, []string{"dm-0"}) || !slices.Equal(d.Partitions, []string{"sdb1"}) {
		t.Errorf("sdb: vendor %q holders %v partitions %v", d.Vendor, d.Holders, d.Partitions)
	}
	if d := byName["nvme0n1"]; d.LogicalBlockSize != 4096 || !d.System {
		t.Errorf("nvme0n1: block size %d system %v", d.LogicalBlockSize, d.System)
	}
}

func TestParseMountInfo(t *testing.T) {
	in := "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"37 35 8:17 / /media/a\\040b rw shared:3 master:4 - vfat /dev/sdb1 rw\n" +
		"short line\n"
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{DevNum{98, 0}, "/mnt2", "ext3", "/dev/root"},
		{DevNum{8, 17}, "/media/a b", "vfat", "/dev/sdb1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := parseMountInfo(strings.NewReader("1 2 x:y / / rw - ext4 /dev/a rw\n")); err == nil {
		t.Error("a bad device number was accepted")
	}
}
