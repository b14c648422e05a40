package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/writer"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"4M", 4 << 20, true}, {"4MiB", 4 << 20, true}, {"512k", 512 << 10, true},
		{"1048576", 1 << 20, true}, {"1g", 1 << 30, true}, {"0", 0, false}, {"-4M", 0, false},
		{"4X", 0, false}, {"", 0, false}, {"3G", 0, false},
	} {
		got, err := parseByteSize(tc.in, 1, 1<<30)
		if (err == nil) != tc.ok || got != int64(tc.want) {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestWriteCmdFiles(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "in.img")
	data := bytes.Repeat([]byte("isofsd write test\n"), 300000)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.img")

	// A target that does not exist needs --to-file.
	if _, code := runCLI(t, "", "write", "--yes", img, out); code != exitUsage {
		t.Errorf("missing target without --to-file: exit %d, want %d", code, exitUsage)
	}
	stdout, code := runCLI(t, "", "write", "--to-file", img, out)
	if code != exitOK || !strings.Contains(stdout, "written and verified") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("file target differs from the image")
	}
	// Overwriting an existing file takes --to-file (or --force), not
	// only --yes (issue 16.8); then it asks, and "no" leaves it alone.
	os.WriteFile(out, []byte("keep me"), 0o644)
	if stdout, code := runCLI(t, "", "write", "--yes", img, out); code != exitUsage || !strings.Contains(stdout, "existing file") {
		t.Errorf("existing file with --yes only: exit %d\n%s", code, stdout)
	}
	if stdout, code := runCLI(t, "no\n", "write", "--to-file", img, out); code != exitUsage || !strings.Contains(stdout, "not confirmed") {
		t.Errorf("answer no: exit %d\n%s", code, stdout)
	}
	if got, _ := os.ReadFile(out); string(got) != "keep me" {
		t.Error("target changed although the answer was no")
	}
	if _, code := runCLI(t, "yes\n", "write", "--to-file", "--bs", "1M", img, out); code != exitOK {
		t.Errorf("answer yes: exit %d", code)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Error("target not written after yes")
	}
	// Writing the source onto itself is refused even with --force.
	if stdout, code := runCLI(t, "", "write", "--yes", "--force", img, img); code != exitUsage || !strings.Contains(stdout, "source image itself") {
		t.Errorf("source as target: exit %d\n%s", code, stdout)
	}
	if _, code := runCLI(t, "", "write", "--yes", "--to-file", "--bs", "1000", img, out); code != exitUsage {
		t.Errorf("--bs 1000: exit %d, want %d", code, exitUsage)
	}
}

func TestDevicesJSON(t *testing.T) {
	if _, err := os.Stat("/sys/block"); err != nil {
		t.Skip("no sysfs")
	}
	stdout, code := runCLI(t, "", "devices", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	var devs []writer.Device
	if err := json.Unmarshal([]byte(stdout), &devs); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for _, d := range devs {
		// Whatever holds the root file system must never be eligible.
		if d.System && d.Eligible {
			t.Errorf("%s holds / but is eligible", d.Path)
		}
		if d.Eligible == (len(d.Problems) > 0) {
			t.Errorf("%s: eligible %v with problems %v", d.Path, d.Eligible, d.Problems)
		}
	}
	text, code := runCLI(t, "", "devices")
	if code != exitOK || !strings.HasPrefix(text, "PATH") {
		t.Errorf("table: exit %d\n%s", code, text)
	}
}

// TestWriteCmdLoop: a stream larger than one of two loop devices; the
// small one fails, the other is written, and the exit code says "partly".
func TestWriteCmdLoop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	isotest.RequireTool(t, "losetup")
	dir := t.TempDir()
	loop := func(size int64) string {
		f := filepath.Join(dir, "back"+strings.Repeat("x", int(size>>20)))
		os.WriteFile(f, nil, 0o644)
		os.Truncate(f, size)
		out, err := exec.Command("losetup", "-f", "--show", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		dev := strings.TrimSpace(string(out))
		t.Cleanup(func() {
			if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v %s", dev, err, out)
			}
		})
		return dev
	}
	small, big := loop(36<<20), loop(48<<20)
	img := filepath.Join(dir, "in.img")
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<20/16)
	os.WriteFile(img, data, 0o644)
	if err := exec.Command("gzip", "-1", img).Run(); err != nil {
		t.Skip("gzip:", err)
	}
	if stdout, code := runCLI(t, "", "write", "--yes", img+".gz", big); code != exitUsage || !strings.Contains(stdout, "--allow-loop") {
		t.Errorf("loop without --allow-loop: exit %d\n%s", code, stdout)
	}
	stdout, code := runCLI(t, "", "write", "--yes", "--allow-loop", img+".gz", small, big)
	if code != exitDamaged || !strings.Contains(stdout, "FAILED  "+small) || !strings.Contains(stdout, "OK      "+big) {
		t.Errorf("exit %d, want %d\n%s", code, exitDamaged, stdout)
	}
}
