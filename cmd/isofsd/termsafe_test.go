//go:build linux

package main

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// hostileStrings are what an image may carry to attack the terminal of
// whoever inspects it: a title change, screen clear, carriage return over
// the line, bell.
const (
	hostileID   = "\x1b]0;pwned\x07\x1b[2J"
	hostileName = "evil\x1b[31mred\rover.txt"
)

// hostileIDImage builds a Rock Ridge image whose file names, checksum list
// and primary descriptor ids carry terminal escapes.
func hostileIDImage(t *testing.T) (dir, iso string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	dir = t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, hostileName), []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The list names the file with a wrong sum and one absent file.
	list := fmt.Sprintf("%x  ./%s\n%x  ./gone%s.txt\n", md5.Sum([]byte("not the payload")), hostileName, md5.Sum(nil), hostileID)
	os.WriteFile(filepath.Join(src, "md5sum.txt"), []byte(list), 0o644)
	iso = filepath.Join(dir, "hostile.iso")
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", iso, src)
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	pvd := b[16*2048:]
	put := func(off, n int, s string) { copy(pvd[off:off+n], (s + strings.Repeat(" ", n))[:n]) }
	put(8, 32, hostileID)         // system id
	put(190, 128, hostileID)      // volume set id
	put(318, 128, hostileID)      // publisher
	put(446, 128, "\r"+hostileID) // preparer
	put(574, 128, hostileID)      // application
	if err := os.WriteFile(iso, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, iso
}

// TestHostileStringsStayOffTheTerminal runs every subcommand that prints
// what an image says over an image whose ids and names carry escape
// sequences: no control character but newline may reach the output, and
// the strings are still shown, escaped (issue 16.11).
func TestHostileStringsStayOffTheTerminal(t *testing.T) {
	dir, iso := hostileIDImage(t)
	bin := isofsdBinary(t)
	disk := filepath.Join(dir, "disk.img") // the image 1 MiB into a "disk", for carve
	data, _ := os.ReadFile(iso)
	os.WriteFile(disk, append(make([]byte, 1<<20), data...), 0o644)
	if out, err := exec.Command(bin, "extract", iso, "-C", filepath.Join(dir, "extracted")).CombinedOutput(); err != nil {
		t.Fatalf("first extract: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"info", iso},
		{"ls", "-lR", iso},
		{"ls", "-l", iso, hostileName + "x"}, // not found: the error names it
		{"verify", iso},
		{"salvage", iso, "-C", filepath.Join(dir, "salvaged")},
		{"extract", iso, "-C", filepath.Join(dir, "extracted")}, // a second time: errors name the files
		{"carve", disk, "--scan-only"},
		{"--log-level", "debug", "info", iso},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.Run()
			for i, c := range out.Bytes() {
				if (c < 0x20 && c != '\n') || c == 0x7f {
					t.Fatalf("%v: control byte 0x%02x at %d reaches the terminal:\n%q", args, c, i, out.String())
				}
			}
			if args[0] != "carve" && !strings.Contains(out.String(), `\x1b`) {
				t.Errorf("%v: the hostile string is not shown escaped:\n%s", args, out.String())
			}
		})
	}
}
