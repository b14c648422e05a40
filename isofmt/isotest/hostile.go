package isotest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// HostileNamesImage builds an image whose names try to leave the
// directory they are extracted to: a Joliet directory "..", a Joliet file
// "a/b" and a plain ISO 9660 directory "..", made by patching the names of
// an image xorriso wrote; the Rock Ridge tree holds a symlink "evil" to the
// directory outside (returned), and directories "evim" (with a file
// "pwned") and "ok" (with "fine.txt", content "fine").
func HostileNamesImage(t testing.TB) (iso, outside string) {
	t.Helper()
	RequireTool(t, "xorriso")
	tmp := t.TempDir()
	outside = filepath.Join(tmp, "outside")
	must(t, os.Mkdir(outside, 0o755))
	src := filepath.Join(tmp, "src")
	for _, d := range []string{"qq", "evim", "ok"} {
		must(t, os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(src, "qq", "escaped"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "a_b"), []byte("slash"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "evim", "pwned"), []byte("pwned"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "ok", "fine.txt"), []byte("fine"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(src, "evil")))
	iso = filepath.Join(tmp, "hostile.iso")
	Run(t, "xorriso", "-joliet", "on", "-outdev", iso, "-map", src, "/")
	b, err := os.ReadFile(iso)
	must(t, err)
	// Joliet names; the plain name "QQ".
	PatchAll(t, b, UTF16BE("qq"), UTF16BE(".."))
	PatchAll(t, b, UTF16BE("a_b"), UTF16BE("a/b"))
	PatchAll(t, b, []byte("\x02QQ"), []byte("\x02.."))
	must(t, os.WriteFile(iso, b, 0o644))
	return iso, outside
}

// PatchAll replaces every occurrence of from by to (same length) in img.
func PatchAll(t testing.TB, img []byte, from, to []byte) {
	t.Helper()
	if len(from) != len(to) || !bytes.Contains(img, from) {
		t.Fatalf("patch %q: not found or length differs", from)
	}
	copy(img, bytes.ReplaceAll(img, from, to))
}

// UTF16BE encodes s as Joliet stores names.
func UTF16BE(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}
