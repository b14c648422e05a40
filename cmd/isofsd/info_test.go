package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// corpusDir is the third-party image corpus kept in the repository (see
// its README.md).
func corpusDir(t testing.TB) string { return isotest.CorpusDir() }

// corpusImages lists the corpus images below dir.
func corpusImages(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range isotest.CorpusImages(t) {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			out = append(out, p)
		}
	}
	return out
}

// TestInfoCorpus runs info (text and JSON) on every corpus image: exit 0
// with a description for the images isofmt opens (1 when truncated), 2 for
// the others, and the JSON agrees with isofmt.Info.
func TestInfoCorpus(t *testing.T) {
	corpus := corpusDir(t)
	for _, img := range corpusImages(t, corpus) {
		rel, _ := filepath.Rel(corpus, img)
		t.Run(rel, func(t *testing.T) {
			im, openErr := isofmt.OpenFile(img, nil)
			out, stderr, code := cliRun(t, "info", img)
			js, _, jcode := cliRun(t, "info", "--json", img)
			if openErr != nil {
				if code != exitUsage || jcode != exitUsage {
					t.Errorf("unopenable image: exit %d/%d, want %d", code, jcode, exitUsage)
				}
				if !strings.Contains(stderr, img) {
					t.Errorf("error does not name the image: %s", stderr)
				}
				return
			}
			defer im.Close()
			want := im.Info()
			// A truncated image is damage found: exit 1 after the
			// description (issue 21 §2.1).
			wantCode := 0
			if want.Truncated {
				wantCode = exitDamaged
			}
			if code != wantCode || jcode != wantCode {
				t.Fatalf("exit %d/%d, want %d\n%s", code, jcode, wantCode, stderr)
			}
			var got struct {
				VolumeID  string `json:"volume_id"`
				ImageSize int64  `json:"image_size"`
				Tree      string
				Trees     []string
				Truncated bool
			}
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatalf("--json: %v\n%s", err, js)
			}
			if got.VolumeID != want.VolumeID || got.ImageSize != want.ImageSize || got.Tree != want.Tree ||
				!slices.Equal(got.Trees, want.Trees) || got.Truncated != want.Truncated {
				t.Errorf("--json: got %+v\nwant %+v", got, *want)
			}
			for _, s := range []string{"Volume label:", "Selected tree:          " + want.Tree, "Trees:"} {
				if !strings.Contains(strings.ReplaceAll(out, "\t", " "), strings.Split(s, "  ")[0]) {
					t.Errorf("text output lacks %q:\n%s", s, out)
				}
			}
			if !strings.Contains(out, want.Tree) {
				t.Errorf("text output does not name the selected tree %s", want.Tree)
			}
			if want.Truncated && !strings.Contains(out, "TRUNCATED") {
				t.Errorf("truncated image not flagged:\n%s", out)
			}
			for _, w := range want.Warnings {
				if !strings.Contains(out, termSafe(w)) {
					t.Errorf("warning %q missing from text output", w)
				}
			}
		})
	}
}

// TestInfoBuilt checks info on an image built here: label, trees, Rock
// Ridge, Joliet level, descriptor sets (with -partition_offset 16), and
// --tree selection.
func TestInfoBuilt(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("x"), 0o644)
	iso := filepath.Join(tmp, "i.iso")
	runTool(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "MY_LABEL", "-partition_offset", "16", "-o", iso, src)
	out, stderr, code := cliRun(t, "info", iso)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{`"MY_LABEL"`, "rockridge, joliet, iso9660", "Selected tree:         rockridge",
		"joliet level 3", "sector 16, sector 32", "Rock Ridge:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = cliRun(t, "info", "--tree", "joliet", iso)
	if code != 0 || !strings.Contains(out, "Selected tree:         joliet") {
		t.Errorf("--tree joliet: exit %d\n%s", code, out)
	}
	if _, _, code := cliRun(t, "info", "--tree", "udf", iso); code != exitUsage {
		t.Errorf("--tree udf on an image without UDF: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := cliRun(t, "info", filepath.Join(tmp, "missing.iso")); code != exitUsage {
		t.Errorf("missing image: exit %d, want %d", code, exitUsage)
	}
}

// bootISO builds an image that boots BIOS (isolinux, no emulation) and
// UEFI (a FAT image), is isohybrid (MBR + GPT) and carries an implanted
// isomd5sum. It returns the image and the source tree.
func bootISO(t *testing.T) (iso, src string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	isotest.RequireTool(t, "mkfs.vfat")
	isotest.RequireTool(t, "implantisomd5")
	const isolinux, mbr = "/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/ISOLINUX/isohdpfx.bin"
	if _, err := os.Stat(isolinux); err != nil {
		t.Skip("isolinux not installed (apt-get install isolinux)")
	}
	tmp := t.TempDir()
	src = filepath.Join(tmp, "src")
	os.MkdirAll(filepath.Join(src, "isolinux"), 0o755)
	os.MkdirAll(filepath.Join(src, "boot"), 0o755)
	b, err := os.ReadFile(isolinux)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "isolinux", "isolinux.bin"), b, 0o644)
	runTool(t, "mkfs.vfat", "-C", filepath.Join(src, "boot", "efi.img"), "1440")
	iso = filepath.Join(tmp, "boot.iso")
	runTool(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "BOOTY",
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat", "-isohybrid-mbr", mbr,
		"-o", iso, src)
	runTool(t, "implantisomd5", iso)
	return iso, src
}

// TestInfoBoot checks the boot, system area and checksum sections.
func TestInfoBoot(t *testing.T) {
	iso, _ := bootISO(t)
	out, stderr, code := cliRun(t, "info", iso)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"El Torito boot catalog", "1. bios  default      bootable, boot-1-bios.img, emulation none",
		"2. uefi  section 1    bootable, boot-2-uefi.img", "1474560 bytes",
		"System area: MBR (isohybrid boot code), GPT", "isohybrid: bootable as a disk", "EFI System (0xef)",
		"Implanted MD5:         md5 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	js, _, _ := cliRun(t, "info", "--json", iso)
	// Decoded generically: ImplantedMD5 marshals its sum as text.
	var in struct {
		Boot *struct {
			Entries []struct{ Platform, Name string }
		}
		SystemArea *struct{ IsoHybrid bool } `json:"system_area"`
		MD5        *struct{ MD5 string }     `json:"implanted_md5"`
	}
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	if in.Boot == nil || len(in.Boot.Entries) != 2 || in.Boot.Entries[1].Platform != "uefi" || in.SystemArea == nil ||
		!in.SystemArea.IsoHybrid || in.MD5 == nil || len(in.MD5.MD5) != 32 {
		t.Errorf("--json lacks boot/system area/md5: %s", js)
	}
	// checkisomd5 is the oracle for the checksum's presence and value.
	if _, err := exec.LookPath("checkisomd5"); err == nil {
		b, _ := exec.Command("checkisomd5", "--md5sumonly", iso).Output()
		// "IMAGE:   <md5>" on the first line.
		first, _, _ := strings.Cut(string(b), "\n")
		if f := strings.Fields(first); len(f) < 2 || !strings.Contains(out, "md5 "+f[len(f)-1]) {
			t.Errorf("checkisomd5 says %q; info says\n%s", b, out)
		}
	}
}

// TestInfoRockRidgeAfterXA: info says when Rock Ridge was found after
// CD-XA system-use fields (issue 21 §2.11), and the tree is Rock Ridge's.
func TestInfoRockRidgeAfterXA(t *testing.T) {
	isotest.RequireTool(t, "genisoimage")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "Mixed_Case_Long_Name.txt"), []byte("x"), 0o644)
	iso := filepath.Join(dir, "xa.iso")
	runTool(t, "genisoimage", "-quiet", "-R", "-XA", "-o", iso, src)
	out, stderr, code := cliRun(t, "info", iso)
	if code != 0 || !strings.Contains(out, "found after CD-XA system-use fields") || !strings.Contains(out, "Selected tree:         rockridge") {
		t.Errorf("exit %d:\n%s%s", code, out, stderr)
	}
	if ls, _, _ := cliRun(t, "ls", iso); strings.TrimSpace(ls) != "Mixed_Case_Long_Name.txt" {
		t.Errorf("ls: %q", ls)
	}
}
