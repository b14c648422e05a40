package isofmt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// saSfdisk is the part of `sfdisk --json` the tests compare with.
type saSfdisk struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   uint64 `json:"firstlba"`
		LastLBA    uint64 `json:"lastlba"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			Bootable bool   `json:"bootable"`
			Name     string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func saSfdiskJSON(t *testing.T, path string) saSfdisk {
	t.Helper()
	var s saSfdisk
	if err := json.Unmarshal([]byte(saRun(t, filepath.Dir(path), "sfdisk", "--json", path)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// saPartitionsOf returns the partitions of one scheme.
func saPartitionsOf(sa *SystemArea, scheme string) []Partition {
	var out []Partition
	for _, p := range sa.Partitions {
		if p.Scheme == scheme {
			out = append(out, p)
		}
	}
	return out
}

// saCompareSfdisk checks the partitions of the sfdisk label against ours.
func saCompareSfdisk(t *testing.T, sa *SystemArea, s saSfdisk) {
	t.Helper()
	pt := s.PartitionTable
	scheme := map[string]string{"dos": "mbr", "gpt": "gpt"}[pt.Label]
	got := saPartitionsOf(sa, scheme)
	if len(got) != len(pt.Partitions) {
		t.Fatalf("%d %s partitions, sfdisk lists %d: %+v", len(got), scheme, len(pt.Partitions), got)
	}
	for i, w := range pt.Partitions {
		p := got[i]
		if !strings.HasSuffix(w.Node, strconv.Itoa(p.Index)) || p.Start != w.Start*pt.SectorSize || p.Size != w.Size*pt.SectorSize {
			t.Errorf("partition %+v, sfdisk says %+v", p, w)
		}
		switch scheme {
		case "mbr":
			n, _ := strconv.ParseUint(w.Type, 16, 8)
			if p.TypeCode != fmt.Sprintf("0x%02x", n) || p.Bootable != w.Bootable {
				t.Errorf("partition %d type %s bootable %v, sfdisk says %s %v", p.Index, p.TypeCode, p.Bootable, w.Type, w.Bootable)
			}
		case "gpt":
			if p.TypeCode != w.Type || p.Name != w.Name {
				t.Errorf("partition %d type %s name %q, sfdisk says %s %q", p.Index, p.TypeCode, p.Name, w.Type, w.Name)
			}
		}
	}
	if scheme == "gpt" {
		g := sa.GPT
		if g == nil || g.DiskGUID != pt.ID || g.FirstUsableLBA != pt.FirstLBA || g.LastUsableLBA != pt.LastLBA || !g.HeaderCRCOK || !g.EntriesCRCOK || !g.BackupFound {
			t.Errorf("gpt header %+v, sfdisk says %+v", g, pt)
		}
	}
}

// saXorrisoGPT parses the GPT part of xorriso -report_system_area plain.
func saXorrisoGPT(t *testing.T, iso string) map[int]Partition {
	t.Helper()
	out := saRun(t, filepath.Dir(iso), "xorriso", "-indev", iso, "-report_system_area", "plain")
	parts := map[int]Partition{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(val)
		if !ok || len(f) < 2 || !strings.HasPrefix(key, "GPT ") {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		p, known := parts[n], true
		switch strings.TrimSpace(key) {
		case "GPT start and size":
			a, _ := strconv.ParseInt(f[1], 10, 64)
			b, _ := strconv.ParseInt(f[2], 10, 64)
			p.Start, p.Size = a*512, b*512
		case "GPT partname local":
			p.Name = f[1]
		case "GPT type GUID":
			raw, err := hex.DecodeString(f[1])
			if err != nil || len(raw) != 16 {
				t.Fatalf("xorriso type GUID %q", f[1])
			}
			p.TypeCode = gptGUID(raw)
		default:
			known = false
		}
		if known {
			parts[n] = p
		}
	}
	return parts
}

// saVolumeBytes returns where the ISO 9660 volume ends. With xorriso's
// -partition_offset 16 the descriptor set at sector 16 claims the whole
// image, appended partitions included; the set at sector 32 (relative to
// the partition at 32 KiB) gives the real end.
func saVolumeBytes(img []byte) int64 {
	if len(img) > 33*2048 && img[32*2048] == 1 && string(img[32*2048+1:32*2048+6]) == "CD001" {
		return 16*2048 + int64(binary.LittleEndian.Uint32(img[32*2048+80:]))*2048
	}
	return int64(binary.LittleEndian.Uint32(img[16*2048+80:])) * 2048
}

// saBuildISOs makes the hybrid images used by several tests.
func saFixture(t *testing.T) (dir, root string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "mkfs.vfat", "mmd", "mcopy", "sfdisk")
	if _, err := os.Stat("/usr/lib/ISOLINUX/isohdpfx.bin"); err != nil {
		t.Skip("isolinux not installed (apt-get install isolinux): no isohdpfx.bin")
	}
	dir = t.TempDir()
	root = filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	btRandomFile(t, filepath.Join(root, "data.bin"), 300000, 9)
	data, err := os.ReadFile("/usr/lib/ISOLINUX/isolinux.bin")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "isolinux.bin"), data, 0o644)
	btFATImage(t, root, "efi.img", 2880)
	btFATImage(t, dir, "esp.img", 1440)
	return dir, root
}

func TestSystemAreaXorriso(t *testing.T) {
	dir, root := saFixture(t)
	mbrArgs := []string{"-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin", "-b", "isolinux.bin", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"}
	tests := []struct {
		name       string
		args       []string
		hybrid     bool
		isohdpfx   bool
		protective bool
		// gptOracle: "sfdisk" (a proper GPT), "xorriso" (a hybrid GPT that
		// fdisk ignores behind a non-protective MBR), "" (no GPT).
		gptOracle string
		beyond    int // partitions expected to lie after the volume
	}{
		{name: "isohybrid-mbr", args: mbrArgs, hybrid: true, isohdpfx: true},
		{name: "isohybrid-mbr-offset16", args: append(saClone(mbrArgs), "-partition_offset", "16"), hybrid: true, isohdpfx: true},
		{name: "isohybrid-gpt-basdat", args: append(saClone(mbrArgs), "-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat"),
			hybrid: true, isohdpfx: true, gptOracle: "xorriso"},
		{name: "append-partition-mbr", args: []string{"-append_partition", "2", "0xef", "../esp.img"}, hybrid: true, beyond: 1},
		{name: "appended-as-gpt-offset16", args: []string{"-append_partition", "2", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "../esp.img",
			"-appended_part_as_gpt", "-partition_offset", "16"}, protective: true, gptOracle: "sfdisk", beyond: 2},
		{name: "isohybrid-append-gpt", args: append(saClone(mbrArgs), "-append_partition", "2", "0xef", "../esp.img", "-isohybrid-gpt-basdat"),
			hybrid: true, isohdpfx: true, gptOracle: "xorriso", beyond: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iso := filepath.Join(dir, tc.name+".iso")
			defer os.Remove(iso)
			saRun(t, root, "xorriso", append(append([]string{"-as", "mkisofs", "-R", "-o", iso}, tc.args...), ".")...)
			img, err := os.ReadFile(iso)
			if err != nil {
				t.Fatal(err)
			}
			sa, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if sa.MBR == nil || sa.IsoHybrid != tc.hybrid || sa.MBR.Isohdpfx != tc.isohdpfx || sa.MBR.Protective != tc.protective {
				t.Errorf("mbr %+v hybrid %v, want hybrid %v isohdpfx %v protective %v", sa.MBR, sa.IsoHybrid, tc.hybrid, tc.isohdpfx, tc.protective)
			}
			if len(sa.Warnings) != 0 {
				t.Errorf("warnings: %q", sa.Warnings)
			}
			s := saSfdiskJSON(t, iso)
			saCompareSfdisk(t, sa, s)
			switch tc.gptOracle {
			case "":
				if sa.GPT != nil {
					t.Errorf("unexpected GPT %+v", sa.GPT)
				}
			case "sfdisk":
				if s.PartitionTable.Label != "gpt" {
					t.Fatalf("sfdisk sees label %q", s.PartitionTable.Label)
				}
			case "xorriso":
				want := saXorrisoGPT(t, iso)
				got := saPartitionsOf(sa, "gpt")
				if len(got) != len(want) || len(got) == 0 {
					t.Fatalf("gpt partitions %+v, xorriso reports %+v", got, want)
				}
				for _, p := range got {
					w := want[p.Index]
					if p.Start != w.Start || p.Size != w.Size || p.Name != w.Name || p.TypeCode != w.TypeCode {
						t.Errorf("gpt partition %+v, xorriso reports %+v", p, w)
					}
				}
				if g := sa.GPT; !g.HeaderCRCOK || !g.EntriesCRCOK || !g.BackupFound {
					t.Errorf("gpt header %+v", g)
				}
			}
			sa.MarkBeyond(saVolumeBytes(img))
			beyond := 0
			for _, p := range sa.Partitions {
				if p.BeyondVolume {
					beyond++
				}
				if p.BeyondVolume && p.Type == "EFI System" {
					esp, _ := os.ReadFile(filepath.Join(dir, "esp.img"))
					if p.Size < int64(len(esp)) || !bytes.Equal(img[p.Start:p.Start+int64(len(esp))], esp) {
						t.Errorf("appended partition %+v does not hold esp.img", p)
					}
				}
			}
			if beyond != tc.beyond {
				t.Errorf("%d partitions beyond the volume, want %d: %+v", beyond, tc.beyond, sa.Partitions)
			}
		})
	}
}

func saClone(s []string) []string { return append([]string(nil), s...) }

// saGPTImage builds a 4 MiB disk with sgdisk (an independent GPT writer).
func saGPTImage(t *testing.T) (string, []byte) {
	t.Helper()
	isotest.RequireTool(t, "sgdisk", "sfdisk")
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	saRun(t, "", "sgdisk", "-n", "1:2048:+1M", "-t", "1:ef00", "-c", "1:EFI system ünïcode", "-A", "1:set:2",
		"-n", "2:0:+512K", "-t", "2:8300", "-c", "2:root", "-n", "3:0:+1000K", "-t", "3:0700", p)
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, img
}

// saFixGPT recomputes the CRCs of the GPT header at h (sector size ss).
func saFixGPT(img []byte, ss int) {
	h := img[ss:]
	n := binary.LittleEndian.Uint32(h[80:])
	es := binary.LittleEndian.Uint32(h[84:])
	eoff := int(binary.LittleEndian.Uint64(h[72:])) * ss
	if end := eoff + int(n)*int(es); n <= 4096 && es <= 4096 && end <= len(img) {
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[eoff:end]))
	}
	hs := binary.LittleEndian.Uint32(h[12:])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if hs <= uint32(ss) {
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hs]))
	}
}

func TestSystemAreaGPT(t *testing.T) {
	path, clean := saGPTImage(t)
	s := saSfdiskJSON(t, path)
	sa, err := ReadSystemArea(bytes.NewReader(clean), int64(len(clean)))
	if err != nil {
		t.Fatal(err)
	}
	saCompareSfdisk(t, sa, s)
	if len(sa.Warnings) != 0 || sa.IsoHybrid || sa.MBR == nil || !sa.MBR.Protective {
		t.Errorf("clean sgdisk disk: %+v", sa)
	}
	if p := sa.Partitions[1]; p.Scheme != "gpt" || p.Type != "EFI System" || !p.Bootable {
		t.Errorf("first gpt partition %+v", p)
	}
	if sa.GPT.BackupOffset != int64(len(clean))-512 {
		t.Errorf("backup header at %d, want the last sector", sa.GPT.BackupOffset)
	}

	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		warn   []string
		parts  int // gpt partitions expected
	}{
		{"header crc", func(b []byte) []byte { b[512+60] ^= 1; return b }, []string{"header CRC32 mismatch"}, 3},
		{"entry crc", func(b []byte) []byte { b[1024+60] ^= 1; return b }, []string{"entry array CRC32 mismatch"}, 3},
		{"huge entry count", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[512+80:], 0xFFFFFFFF)
			saFixGPT(b, 512)
			return b
		}, []string{"claims 4294967295 entries", "not verified"}, 3},
		{"entry array past the end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[512+80:], maxGPTEntryArray/128)
			saFixGPT(b, 512)
			return b
		}, []string{"past the image end", "not verified"}, 3},
		{"bad entry size", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[512+84:], 7)
			saFixGPT(b, 512)
			return b
		}, []string{"entry size 7"}, 0},
		{"bad header size", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[512+12:], 4000)
			return b
		}, []string{"header size 4000"}, 0},
		{"no backup", func(b []byte) []byte { return b[:len(b)-512] }, []string{"backup header not found"}, 3},
		{"absurd entry lba", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[512+72:], 1<<62)
			saFixGPT(b, 512)
			return b
		}, []string{"absurd"}, 0},
		{"inverted partition", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[1024+40:], 1)
			saFixGPT(b, 512)
			return b
		}, []string{"gpt entry 1 has LBAs"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(bytes.Clone(clean))
			sa, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(sa.Warnings, "\n")
			for _, w := range tc.warn {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %q lack %q", sa.Warnings, w)
				}
			}
			if n := len(saPartitionsOf(sa, "gpt")); n != tc.parts {
				t.Errorf("%d gpt partitions, want %d", n, tc.parts)
			}
		})
	}

	// The same table laid out for 2048- and 4096-byte sectors must give the
	// same byte ranges.
	for _, ss := range []int{2048, 4096} {
		t.Run(fmt.Sprintf("sector size %d", ss), func(t *testing.T) {
			img := make([]byte, len(clean))
			copy(img[:512], clean[:512])
			copy(img[ss:ss+512], clean[512:1024])
			h := img[ss:]
			entries := clean[1024 : 1024+128*128]
			binary.LittleEndian.PutUint64(h[72:], 2)
			copy(img[2*ss:], entries)
			k := uint64(ss / 512)
			for _, f := range []int{32, 40, 48} { // backup, first and last usable LBAs
				binary.LittleEndian.PutUint64(h[f:], binary.LittleEndian.Uint64(h[f:])/k)
			}
			copy(img[len(img)-ss:], "EFI PART")
			binary.LittleEndian.PutUint64(h[32:], uint64(len(img)/ss-1))
			for i := 0; i < 128; i++ {
				e := img[2*ss+i*128:]
				first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
				if first != 0 {
					binary.LittleEndian.PutUint64(e[32:], first/k)
					binary.LittleEndian.PutUint64(e[40:], (last+1)/k-1)
				}
			}
			saFixGPT(img, ss)
			got, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Warnings) != 0 || got.GPT == nil || got.GPT.SectorSize != ss {
				t.Fatalf("%+v %+v", got.GPT, got.Warnings)
			}
			want, have := saPartitionsOf(sa, "gpt"), saPartitionsOf(got, "gpt")
			if fmt.Sprint(want) != fmt.Sprint(have) {
				t.Errorf("partitions %+v, want %+v", have, want)
			}
		})
	}
}

// saAPM7z lists an image's Apple partition map with 7-Zip (an independent reader).
func saAPM7z(t *testing.T, iso string) []Partition {
	t.Helper()
	// 7-Zip exits 2 on xorriso's APM ("Unexpected end of archive": the
	// driver descriptor claims a huge device) but lists the map.
	out, _ := exec.Command("7zz", "l", "-slt", "-tAPM", iso).Output()
	_, list, _ := strings.Cut(string(out), "----------")
	var parts []Partition
	for _, block := range strings.Split(list, "\n\n") {
		var p Partition
		for _, line := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(line, " = ")
			switch k {
			case "Path":
				p.Name, _, _ = strings.Cut(v, ".")
			case "Size":
				p.Size, _ = strconv.ParseInt(v, 10, 64)
			case "Offset":
				p.Start, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if p.Name != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

func TestSystemAreaAPM(t *testing.T) {
	isotest.RequireTool(t, "xorriso", "7zz")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "root"), 0o755)
	btRandomFile(t, filepath.Join(dir, "root", "f"), 100000, 5)
	for _, bs := range []string{"512", "2048"} {
		t.Run("xorriso-hfsplus-"+bs, func(t *testing.T) {
			iso := filepath.Join(dir, bs+".iso")
			saRun(t, dir, "xorriso", "-as", "mkisofs", "-R", "-hfsplus", "-apm-block-size", bs, "-o", iso, "root")
			img, _ := os.ReadFile(iso)
			sa, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			want := saAPM7z(t, iso)
			got := saPartitionsOf(sa, "apm")
			if sa.APM == nil || strconv.Itoa(sa.APM.BlockSize) != bs || len(sa.Warnings) != 0 || len(got) != len(want) || len(got) < 3 {
				t.Fatalf("apm %+v warnings %q partitions %+v, 7-Zip lists %+v", sa.APM, sa.Warnings, got, want)
			}
			for i, p := range got {
				if p.Name != want[i].Name || p.Start != want[i].Start || p.Size != want[i].Size {
					t.Errorf("apm partition %+v, 7-Zip says %+v", p, want[i])
				}
			}
		})
	}
	t.Run("corpus-wrong-block-size", func(t *testing.T) {
		p := filepath.Join(fuzzCorpus, "isolyzer", "iso9660_hfs_part_wrongblksize.iso")
		img, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		if sa.APM == nil || sa.APM.DeclaredBlockSize == sa.APM.BlockSize || len(sa.Warnings) != 1 || !strings.Contains(sa.Warnings[0], "block size") {
			t.Fatalf("apm %+v warnings %q", sa.APM, sa.Warnings)
		}
		// The HFS partition must start with an HFS volume: the master
		// directory block ("BD") sits 1024 bytes in.
		var hfs int
		for _, p := range saPartitionsOf(sa, "apm") {
			if p.Type == "Apple_HFS" {
				hfs++
				if p.Start+p.Size > int64(len(img)) || string(img[p.Start+1024:p.Start+1026]) != "BD" {
					t.Errorf("hfs partition %+v does not hold an HFS volume", p)
				}
			}
		}
		if hfs != 1 {
			t.Errorf("%d HFS partitions in %+v", hfs, sa.Partitions)
		}
	})
}

// TestSystemAreaCorpus reads every corpus image: no panic, and no MBR where
// there is no boot signature.
func TestSystemAreaCorpus(t *testing.T) {
	for _, p := range saCorpusImages(t) {
		img, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := ReadSystemArea(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		hasSig := len(img) >= 512 && img[510] == 0x55 && img[511] == 0xAA
		if (sa.MBR != nil) != hasSig {
			t.Errorf("%s: mbr %+v, signature %v", p, sa.MBR, hasSig)
		}
		t.Logf("%s: %d partitions, hybrid %v, warnings %q", p, len(sa.Partitions), sa.IsoHybrid, sa.Warnings)
	}
}

func FuzzSystemArea(f *testing.F) {
	for _, p := range saCorpusImages(f) {
		img, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Only the non-zero start of the system area: small seeds keep the
		// fuzzer's input minimisation fast.
		sys := img[:min(len(img), 36*1024)]
		end := len(bytes.TrimRight(sys, "\x00"))
		f.Add(sys[:min(len(sys), (end+511)/512*512)])
	}
	if _, err := os.Stat("/usr/bin/sgdisk"); err == nil {
		p := filepath.Join(f.TempDir(), "d.img")
		os.WriteFile(p, make([]byte, 1<<20), 0o644)
		saRun(f, "", "sgdisk", "-n", "1:40:+100K", "-t", "1:ef00", "-n", "2:0:0", p)
		img, _ := os.ReadFile(p)
		// Keep the header and the first entries; the backup is lost.
		f.Add(img[:34*512])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := ReadSystemArea(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(sa.Partitions); n > 4+maxGPTEntries+maxAPMEntries {
			t.Fatalf("%d partitions", n)
		}
		sa.MarkBeyond(int64(len(data)))
	})
}
