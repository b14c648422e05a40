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
	"unicode"
	"unicode/utf8"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// hostileStrings are what an image may carry to attack the terminal of
// whoever inspects it: a title change, screen clear, carriage return over
// the line, bell.
const (
	hostileID   = "\x1b]0;pwned\x07\x1b[2J"
	hostileName = "evil\x1b[31mred\rover.txt"
	// hostileBidi hides its real extension behind a right-to-left
	// override and carries a C1 CSI (U+009B), which xterm's 8-bit mode
	// takes as ESC [ (review S4).
	hostileBidi = "rtl\u202egnp.exe\u009b2J"
	// hostileDir is the directory whose "/path:" header ls -R prints
	// (review S4c).
	hostileDir = "d\x1b[31mRED\x1b]0;T\x07"
	// hostileNested names an image stored inside the image, which carve
	// reports as where it found the nested one (review S4a).
	hostileNested = "nest\u202e\x1b[2J.iso"
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
	isotest.WriteFiles(t, src, map[string][]byte{
		hostileBidi:                       bytes.Repeat([]byte("bidi"), 4096),
		hostileDir + "/inner" + hostileID: []byte("inside"),
	})
	inner := filepath.Join(dir, "inner")
	isotest.WriteFiles(t, inner, map[string][]byte{"x.txt": bytes.Repeat([]byte("nested"), 1000)})
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", "INNER", "-o", filepath.Join(src, hostileNested), inner)
	// The list names the file with a wrong sum and one absent file.
	list := fmt.Sprintf("%x  ./%s\n%x  ./gone%s.txt\n%x  ./%s\n", md5.Sum([]byte("not the payload")), hostileName, md5.Sum(nil), hostileID,
		md5.Sum(nil), hostileBidi)
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
// sequences, C1 controls and bidirectional overrides: no control
// character but newline, and no format character, may reach the output,
// and the strings are still shown, escaped (issue 16.11, review S4: carve
// naming the file a nested image was stored in, burn's DAMAGED lines,
// ls -R's directory headers).
func TestHostileStringsStayOffTheTerminal(t *testing.T) {
	dir, iso := hostileIDImage(t)
	bin := isofsdBinary(t)
	disk := filepath.Join(dir, "disk.img") // the image 1 MiB into a "disk", for carve
	data, _ := os.ReadFile(iso)
	os.WriteFile(disk, append(make([]byte, 1<<20), data...), 0o644)
	if out, err := exec.Command(bin, "extract", iso, "-C", filepath.Join(dir, "extracted")).CombinedOutput(); err != nil {
		t.Fatalf("first extract: %v\n%s", err, out)
	}
	// A disc burned from the image, then one byte of the bidi-named file
	// flipped on it: burn --verify-only lists that file as DAMAGED.
	disc := filepath.Join(dir, "disc")
	if out, err := exec.Command(bin, "burn", "--no-verify", iso, "stdio:"+disc).CombinedOutput(); err != nil {
		t.Fatalf("burn: %v\n%s", err, out)
	}
	at := bytes.Index(data, bytes.Repeat([]byte("bidi"), 1024))
	f, err := os.OpenFile(disc, os.O_RDWR, 0)
	if at < 0 || err != nil {
		t.Fatalf("bidi file at %d: %v", at, err)
	}
	f.WriteAt([]byte("X"), int64(at)+100)
	f.Close()
	fat := hostileDeletedFAT(t, dir)
	for _, c := range []struct {
		args []string
		// shown are escaped forms the output must hold.
		shown []string
	}{
		{[]string{"info", iso}, []string{`\x1b`}},
		{[]string{"ls", "-lR", iso}, []string{`\x1b`, `\u202e`, `"/d\x1b[31mRED\x1b]0;T\a":`}},
		{[]string{"ls", "-l", iso, hostileName + "x"}, []string{`\x1b`}}, // not found: the error names it
		{[]string{"verify", iso}, []string{`\x1b`, `\u202e`}},
		{[]string{"salvage", iso, "-C", filepath.Join(dir, "salvaged")}, []string{`\x1b`}},
		{[]string{"extract", iso, "-C", filepath.Join(dir, "extracted")}, []string{`\x1b`}}, // a second time: errors name the files
		{[]string{"carve", disk, "--scan-only"}, nil},
		{[]string{"carve", disk, "-o", filepath.Join(dir, "carved")}, []string{`stored in the image at byte`, `\u202e\x1b[2J.iso`}},
		{[]string{"carve", fat, "-o", filepath.Join(dir, "undeleted")}, []string{`"evil\x1b[2J\u202e\u009bosi.iso": iso9660 image`}},
		{[]string{"burn", "--verify-only", iso, "stdio:" + disc}, []string{`DAMAGED "/rtl\u202egnp.exe\u009b2J"`}},
		{[]string{"--log-level", "debug", "info", iso}, []string{`\x1b`}},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, c.args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.Run()
			checkTermSafeOutput(t, c.args, out.String())
			for _, want := range c.shown {
				if !strings.Contains(out.String(), want) {
					t.Errorf("%q: the hostile string is not shown escaped (%s):\n%s", c.args, want, out.String())
				}
			}
		})
	}
	// The image undeleted from the FAT disk is named after the deleted
	// file without its escapes and its right-to-left override.
	if names, _ := filepath.Glob(filepath.Join(dir, "undeleted", "*")); len(names) != 1 || filepath.Base(names[0]) != "evil_[2J__osi.iso" {
		t.Errorf("undeleted files: %q, want one named evil_[2J__osi.iso", names)
	}
}

// hostileDeletedFAT makes a FAT disk that holds a deleted ISO image whose
// long name is evil ESC[2J U+202E U+009B osi.iso: the name undelete reads
// from the disk (review S4a). mtools refuses such a name, so the file is
// copied as evilQQQQQQosi.iso and its long-name entry rewritten after
// mdel (a long name's checksum covers only the short name).
func hostileDeletedFAT(t *testing.T, dir string) string {
	t.Helper()
	isotest.RequireTool(t, "mformat", "mcopy", "mdel")
	disk := filepath.Join(dir, "fat.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(disk, 8<<20)
	isotest.Run(t, "mformat", "-i", disk, "::")
	isotest.Run(t, "mcopy", "-i", disk, isotest.CorpusFile(t, "libcdio/copying-rr.iso"), "::evilQQQQQQosi.iso")
	isotest.Run(t, "mdel", "-i", disk, "::evilQQQQQQosi.iso")
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	utf16 := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r), byte(r>>8))
		}
		return out
	}
	at := bytes.Index(b, utf16("evil"))
	if at < 0 {
		t.Fatal("no long-name entry for evilQQQQQQosi.iso")
	}
	for _, r := range "\x1b[2J\u202e\u009b" {
		q := bytes.Index(b[at:at+40], utf16("Q"))
		if q < 0 {
			t.Fatal("long-name entry lacks its Qs")
		}
		copy(b[at+q:], utf16(string(r)))
	}
	if err := os.WriteFile(disk, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return disk
}

// checkTermSafeOutput fails if out holds anything that acts on a
// terminal: a C0 control but newline, DEL, a C1 control, a format
// character (bidirectional overrides and isolates, marks) or invalid
// UTF-8.
func checkTermSafeOutput(t *testing.T, args []string, out string) {
	t.Helper()
	for i, r := range out {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n') || unicode.Is(unicode.Cf, r) {
			t.Fatalf("%q: %U at byte %d reaches the terminal:\n%q", args, r, i, out)
		}
	}
}
