package writer

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// diskutilList is shaped like `diskutil list -plist` on a Mac with an
// internal APFS disk and a USB stick with one FAT partition mounted.
const diskutilList = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AllDisks</key>
	<array><string>disk0</string><string>disk0s1</string><string>disk0s2</string><string>disk3</string><string>disk4</string><string>disk4s1</string></array>
	<key>AllDisksAndPartitions</key>
	<array>
		<dict>
			<key>Content</key><string>GUID_partition_scheme</string>
			<key>DeviceIdentifier</key><string>disk0</string>
			<key>OSInternal</key><false/>
			<key>Partitions</key>
			<array>
				<dict><key>Content</key><string>EFI</string><key>DeviceIdentifier</key><string>disk0s1</string><key>Size</key><integer>314572800</integer></dict>
				<dict><key>Content</key><string>Apple_APFS</string><key>DeviceIdentifier</key><string>disk0s2</string><key>Size</key><integer>499763888128</integer></dict>
			</array>
			<key>Size</key><integer>500277790720</integer>
		</dict>
		<dict>
			<key>APFSPhysicalStores</key>
			<array><dict><key>DeviceIdentifier</key><string>disk0s2</string></dict></array>
			<key>APFSVolumes</key>
			<array>
				<dict><key>DeviceIdentifier</key><string>disk3s1</string><key>MountPoint</key><string>/</string></dict>
				<dict><key>DeviceIdentifier</key><string>disk3s5</string><key>MountPoint</key><string>/System/Volumes/Data</string></dict>
				<dict><key>DeviceIdentifier</key><string>disk3s6</string></dict>
			</array>
			<key>DeviceIdentifier</key><string>disk3</string>
			<key>Size</key><integer>499763888128</integer>
		</dict>
		<dict>
			<key>Content</key><string>FDisk_partition_scheme</string>
			<key>DeviceIdentifier</key><string>disk4</string>
			<key>Partitions</key>
			<array>
				<dict><key>Content</key><string>DOS_FAT_32</string><key>DeviceIdentifier</key><string>disk4s1</string>
				<key>MountPoint</key><string>/Volumes/USB STICK</string><key>Size</key><integer>15518924800</integer>
				<key>VolumeName</key><string>USB STICK</string></dict>
			</array>
			<key>Size</key><integer>15518924800</integer>
		</dict>
	</array>
	<key>WholeDisks</key>
	<array><string>disk0</string><string>disk3</string><string>disk4</string></array>
</dict>
</plist>`

const diskutilInfo = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<dict>
	<key>BusProtocol</key><string>USB</string>
	<key>DeviceBlockSize</key><integer>512</integer>
	<key>DeviceIdentifier</key><string>disk4</string>
	<key>DeviceNode</key><string>/dev/disk4</string>
	<key>Ejectable</key><true/>
	<key>Internal</key><false/>
	<key>MediaName</key><string>SanDisk Cruzer Blade Media</string>
	<key>RemovableMedia</key><true/>
	<key>Size</key><integer>15518924800</integer>
	<key>SolidState</key><false/>
	<key>TotalSize</key><integer>15518924800</integer>
	<key>WritableMedia</key><true/>
	<key>Latency</key><real>0.5</real>
</dict>
</plist>`

func TestDiskutilPlist(t *testing.T) {
	v, err := parsePlist(strings.NewReader(diskutilList))
	if err != nil {
		t.Fatal(err)
	}
	mounts := diskutilMounts(plistDict(v))
	var root, stick []string
	for _, m := range mounts["disk0"] {
		root = append(root, m.Device+" "+m.MountPoint)
	}
	for _, m := range mounts["disk4"] {
		stick = append(stick, m.Device+" "+m.MountPoint)
	}
	if !slices.Equal(root, []string{"disk3s1 /", "disk3s5 /System/Volumes/Data"}) {
		t.Errorf("disk0 mounts (through its APFS container) = %v", root)
	}
	if n := len(mounts["disk3"]); n != 2 {
		t.Errorf("the APFS container disk3 itself has %d mounts, want 2", n)
	}
	if !slices.Equal(stick, []string{"disk4s1 /Volumes/USB STICK"}) {
		t.Errorf("disk4 mounts = %v", stick)
	}

	iv, err := parsePlist(strings.NewReader(diskutilInfo))
	if err != nil {
		t.Fatal(err)
	}
	d := &Device{Name: "disk4"}
	applyDiskutilInfo(d, plistDict(iv))
	if d.Path != "/dev/disk4" || d.Size != 15518924800 || d.Transport != TransportUSB || !d.Removable || d.ReadOnly || d.Model != "SanDisk Cruzer Blade" {
		t.Errorf("device = %+v", d)
	}

	for _, bad := range []string{
		"<plist><dict><key>a</key></dict></plist>",
		"<plist><dict><string>x</string></dict></plist>",
		"<plist><integer>x1</integer></plist>",
		"<html></html>",
		strings.Repeat("<plist>", 1) + strings.Repeat("<array>", 100) + strings.Repeat("</array>", 100) + "</plist>",
		"<plist><dict>",
	} {
		if _, err := parsePlist(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestWindowsDescriptors(t *testing.T) {
	b := make([]byte, 128)
	le := binary.LittleEndian
	le.PutUint32(b[4:], 100)
	b[10] = 1
	copy(b[40:], "Kingston\x00")
	copy(b[50:], "DataTraveler 3.0\x00")
	copy(b[70:], "E0D55EA57403F\x00")
	le.PutUint32(b[12:], 40)
	le.PutUint32(b[16:], 50)
	le.PutUint32(b[24:], 70)
	le.PutUint32(b[28:], busUSB)
	sd, err := parseStorageDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	want := storageDescriptor{Vendor: "Kingston", Product: "DataTraveler 3.0", Serial: "E0D55EA57403F", BusType: busUSB, Removable: true}
	if sd != want || windowsTransport(sd.BusType) != TransportUSB {
		t.Errorf("got %+v", sd)
	}
	// Offsets past the reported size are ignored, not followed.
	le.PutUint32(b[24:], 120)
	if sd, _ := parseStorageDescriptor(b); sd.Serial != "" {
		t.Errorf("serial read past the descriptor: %q", sd.Serial)
	}
	if _, err := parseStorageDescriptor(b[:20]); err == nil {
		t.Error("short reply accepted")
	}

	ext := make([]byte, 8+24*2)
	le.PutUint32(ext, 2)
	le.PutUint32(ext[8:], 1)
	le.PutUint32(ext[32:], 3)
	if got, err := parseDiskExtents(ext); err != nil || !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("extents = %v, %v", got, err)
	}
	le.PutUint32(ext, 3)
	if _, err := parseDiskExtents(ext); err == nil {
		t.Error("extent count beyond the reply accepted")
	}
}

func TestDetectCompression(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want Compression
	}{
		{[]byte{0x1f, 0x8b, 8, 0}, CompressionGzip},
		{[]byte("BZh91AY"), CompressionBzip2},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, CompressionXz},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0}, CompressionZstd},
		{make([]byte, 16), CompressionNone},
		{[]byte{0xfd, '7', 'z'}, CompressionNone},
	} {
		if got := DetectCompression(tc.head); got != tc.want {
			t.Errorf("%x: %q, want %q", tc.head, got, tc.want)
		}
	}
}

// FuzzParsePlist: diskutil output is trusted, but the decoder must still
// terminate without panicking on anything.
func FuzzParsePlist(f *testing.F) {
	f.Add(diskutilList)
	f.Add(diskutilInfo)
	f.Add("<plist><array><dict><key>a</key><integer>1</integer></dict></array></plist>")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parsePlist(strings.NewReader(s))
		if err == nil {
			if m := plistDict(v); m != nil {
				diskutilMounts(m)
				applyDiskutilInfo(&Device{}, m)
			}
		}
	})
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
	f.Add("1 2 8:1 / /a\\040b rw - vfat /dev/sdb1 rw\n")
	f.Fuzz(func(t *testing.T, s string) {
		parseMountInfo(strings.NewReader(s))
		parseSwaps(strings.NewReader(s))
		unescapeMount(s)
	})
}

func FuzzWindowsReplies(f *testing.F) {
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStorageDescriptor(b)
		parseDiskExtents(b)
	})
}
