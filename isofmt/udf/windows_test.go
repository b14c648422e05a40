package udf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestWindowsBridge builds a Windows-install-like UDF bridge image with a
// 4.5 GB sources/install.wim (sparse on disk, with data at known offsets,
// some past 4 GiB) and checks the UDF view gives its real size, several
// extents and the right content. The ISO 9660 side of such images cannot
// describe the file (the point of issue 3).
func TestWindowsBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 4.5 GB image; run without -short")
	}
	isotest.RequireTool(t, "genisoimage")
	isotest.RequireTool(t, "7zz")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"sources", "boot"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const wimSize = 4500000000
	marks := []struct {
		off  int64
		data []byte
	}{
		{0, []byte("MSWIM\x00\x00\x00")},
		{1<<30 - 3, []byte("across the first 1 GiB boundary")},
		{4<<30 + 12345, []byte("past four gibibytes")},
		{wimSize - 11, []byte("end of wim!")},
	}
	wim, err := os.Create(filepath.Join(tree, "sources", "install.wim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := wim.Truncate(wimSize); err != nil {
		t.Fatal(err)
	}
	for _, m := range marks {
		if _, err := wim.WriteAt(m.data, m.off); err != nil {
			t.Fatal(err)
		}
	}
	wim.Close()
	small := map[string][]byte{"bootmgr": pattern(383786, 9), "boot/etfsboot.com": pattern(4096, 11)}
	for p, b := range small {
		if err := os.WriteFile(filepath.Join(tree, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "win.iso")
	cmd := exec.Command("genisoimage", "-quiet", "-udf", "-allow-limited-size", "-iso-level", "3", "-J",
		"-b", "boot/etfsboot.com", "-no-emul-boot", "-boot-load-size", "8", "-o", img, tree)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, out)
	}
	// The 4.5 GB files go as soon as the test ends, whatever its outcome.
	t.Cleanup(func() { os.Remove(img); os.RemoveAll(tree) })

	v, f := openPath(t, img)
	ours := walk(t, v)
	list := sevenZipList(t, img)
	for p, e := range list {
		n, ok := ours[p]
		if !ok || n.IsDir() != e.dir || (!e.dir && n.Stat.Size != e.size) {
			t.Errorf("%q: ours %+v, 7zz %+v", p, n, e)
		}
	}
	if len(ours) != len(list) {
		t.Errorf("we list %d entries, 7zz %d", len(ours), len(list))
	}
	// Extract the small files with 7-Zip; the big one is checked against
	// the known data instead of writing 4.5 GB more.
	out := filepath.Join(dir, "x")
	args := []string{"x", "-tUdf", "-y", "-o" + out, img}
	for p := range small {
		args = append(args, p)
	}
	if o, err := exec.Command("7zz", args...).CombinedOutput(); err != nil {
		t.Fatalf("7zz x: %v\n%s", err, o)
	}
	for p, b := range small {
		x, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || !bytes.Equal(x, b) {
			t.Fatalf("7zz extracted %s wrongly: %v", p, err)
		}
		if hashNode(t, f, ours[p]) != hashBytes(b) {
			t.Errorf("%s: content differs", p)
		}
	}

	n := ours["sources/install.wim"]
	if n == nil {
		t.Fatal("no sources/install.wim")
	}
	if n.Stat.Size != wimSize {
		t.Errorf("install.wim size %d", n.Stat.Size)
	}
	if len(n.Stat.Extents) < 2 {
		t.Errorf("install.wim extents %v: want several (< 1 GiB each)", n.Stat.Extents)
	}
	for _, e := range n.Stat.Extents {
		if e.Length >= 1<<30 {
			t.Errorf("extent %+v not below 1 GiB", e)
		}
	}
	for _, m := range marks {
		if got := readNode(t, f, n, m.off, len(m.data)); !bytes.Equal(got, m.data) {
			t.Errorf("install.wim at %d: %q, want %q", m.off, got, m.data)
		}
	}
	// Hash the expected content: zeros with the marks written in.
	h := sha256.New()
	zeros := make([]byte, 1<<20)
	var pos int64
	for _, m := range marks {
		for pos < m.off {
			c := min(m.off-pos, int64(len(zeros)))
			h.Write(zeros[:c])
			pos += c
		}
		h.Write(m.data)
		pos += int64(len(m.data))
	}
	for pos < wimSize {
		c := min(wimSize-pos, int64(len(zeros)))
		h.Write(zeros[:c])
		pos += c
	}
	if got, want := hashNode(t, f, n), hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("install.wim hash %s, want %s", got, want)
	}
}
