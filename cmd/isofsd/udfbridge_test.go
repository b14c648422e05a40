//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestLsWindowsBridge builds a Windows-install-like UDF bridge (genisoimage
// -udf -allow-limited-size, a 4.5 GB install.wim) and checks that ls shows
// the real file through UDF by default, and the truncated size the ISO 9660
// tree records with --tree iso9660 — the view that fools other tools.
func TestLsWindowsBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 4.5 GB image; skipped with -short")
	}
	isotest.RequireTool(t, "genisoimage")
	isotest.RequireTool(t, "isoinfo")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	for _, d := range []string{"sources", "boot"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wim, err := os.Create(filepath.Join(src, "sources", "install.wim"))
	if err != nil {
		t.Fatal(err)
	}
	wim.WriteAt([]byte("MSWIM\x00\x00\x00"), 0)
	wim.WriteAt([]byte("past 4 GiB"), 1<<32+12345)
	wim.Truncate(4_500_000_000)
	wim.Close()
	os.WriteFile(filepath.Join(src, "bootmgr"), []byte("bootmgr"), 0o644)
	os.WriteFile(filepath.Join(src, "boot", "etfsboot.com"), make([]byte, 4096), 0o644)
	iso := filepath.Join(tmp, "win.iso")
	out, err := exec.Command("genisoimage", "-quiet", "-udf", "-allow-limited-size", "-iso-level", "3", "-J",
		"-b", "boot/etfsboot.com", "-no-emul-boot", "-boot-load-size", "8", "-o", iso, src).CombinedOutput()
	if err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, out)
	}
	defer os.Remove(iso)

	size := func(tree, dir, name string) string {
		t.Helper()
		args := []string{"ls", "-l"}
		if tree != "" {
			args = append(args, "--tree", tree)
		}
		stdout, _, code := cliRun(t, append(args, iso, dir)...)
		if code != 0 {
			t.Fatalf("ls %v: exit %d\n%s", args, code, stdout)
		}
		m := regexp.MustCompile(`(?m)^\S+\s+\d+\s+\S+\s+\S+\s+(\d+) .* ` + regexp.QuoteMeta(name) + `$`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("ls %v lists no %s:\n%s", args, name, stdout)
		}
		return m[1]
	}
	if got := size("", "sources", "install.wim"); got != "4500000000" {
		t.Errorf("default (UDF) tree: install.wim is %s bytes, want 4500000000", got)
	}
	// The oracle for the ISO 9660 view: isoinfo's plain listing.
	listing, err := exec.Command("isoinfo", "-l", "-i", iso).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\S+\s+\d+\s+\d+\s+\d+\s+(\d+) .*INSTALL\.WIM;1`).FindStringSubmatch(string(listing))
	if m == nil {
		t.Fatalf("isoinfo does not list INSTALL.WIM:\n%s", listing)
	}
	if got := size("iso9660", "SOURCES", "INSTALL.WIM"); got != m[1] || got == "4500000000" {
		t.Errorf("--tree iso9660: INSTALL.WIM is %s bytes; isoinfo says %s (a truncated size)", got, m[1])
	}
	info, _, code := cliRun(t, "info", iso)
	if code != 0 || !strings.Contains(info, "udf") {
		t.Errorf("info: exit %d, no UDF tree named:\n%s", code, info)
	}
}
