package udf

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// corpus is the repository's third-party image corpus.
var corpus = isotest.CorpusDir()

func corpusFile(t testing.TB, rel string) string {
	t.Helper()
	return isotest.CorpusFile(t, rel)
}

func openPath(t testing.TB, p string) (*Volume, *os.File) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(f, st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", p, err)
	}
	return v, f
}

// walk lists the whole tree; keys are slash paths without a leading slash.
func walk(t testing.TB, v *Volume) map[string]*core.Node {
	t.Helper()
	root, err := v.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	out := map[string]*core.Node{}
	var rec func(n *core.Node, p string)
	rec = func(n *core.Node, p string) {
		kids, err := v.ReadDir(n)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", p, err)
		}
		for _, k := range kids {
			kp := strings.TrimPrefix(p+"/"+k.Name, "/")
			if _, dup := out[kp]; dup {
				t.Errorf("duplicate entry %q", kp)
			}
			out[kp] = k
			if k.Err != nil {
				t.Errorf("%s: %v", kp, k.Err)
				continue
			}
			if k.IsDir() {
				rec(k, kp)
			}
		}
	}
	rec(root, "")
	return out
}

// hashNode hashes a file's content by following its extents, streaming
// sparse runs as zeros.
func hashNode(t testing.TB, r io.ReaderAt, n *core.Node) string {
	t.Helper()
	h := sha256.New()
	var zeros [1 << 16]byte
	for _, e := range n.Stat.Extents {
		if e.Sparse {
			for left := e.Length; left > 0; {
				c := min(left, int64(len(zeros)))
				h.Write(zeros[:c])
				left -= c
			}
			continue
		}
		if _, err := io.Copy(h, io.NewSectionReader(r, e.Offset, e.Length)); err != nil {
			t.Fatalf("%s: reading extent %+v: %v", n.Name, e, err)
		}
	}
	if got := n.Stat.StoredSize(); got != n.Stat.Size {
		t.Errorf("%s: extents cover %d bytes, size %d", n.Name, got, n.Stat.Size)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type szEntry struct {
	size int64
	dir  bool
}

// sevenZipList lists a UDF image with 7-Zip, an independent reader.
func sevenZipList(t testing.TB, img string) map[string]szEntry {
	t.Helper()
	isotest.RequireTool(t, "7zz")
	out, err := exec.Command("7zz", "l", "-slt", "-tUdf", img).CombinedOutput()
	if err != nil {
		t.Fatalf("7zz l %s: %v\n%s", img, err, out)
	}
	if bytes.Contains(out, []byte("ERRORS:")) {
		t.Fatalf("7zz reports errors for %s:\n%s", img, out)
	}
	res := map[string]szEntry{}
	// Entries follow the "----------" separator, one blank-line-separated block each.
	_, body, ok := strings.Cut(string(out), "\n----------\n")
	if !ok {
		return res
	}
	var path string
	var e szEntry
	flush := func() {
		if path != "" {
			res[path] = e
		}
		path, e = "", szEntry{}
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		k, val, _ := strings.Cut(line, " = ")
		switch k {
		case "Path":
			flush()
			path = val
		case "Size":
			e.size, _ = strconv.ParseInt(val, 10, 64)
		case "Folder":
			e.dir = val == "+"
		}
	}
	flush()
	return res
}

// sevenZipHashes extracts a UDF image with 7-Zip and hashes every file.
func sevenZipHashes(t testing.TB, img string) map[string]string {
	t.Helper()
	isotest.RequireTool(t, "7zz")
	dir := t.TempDir()
	if out, err := exec.Command("7zz", "x", "-tUdf", "-y", "-o"+dir, img).CombinedOutput(); err != nil {
		t.Fatalf("7zz x %s: %v\n%s", img, err, out)
	}
	res := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		res[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// compareWithSevenZip checks names, types, sizes and content of our view
// of img against 7-Zip's.
func compareWithSevenZip(t *testing.T, img string, v *Volume, r io.ReaderAt) map[string]*core.Node {
	t.Helper()
	ours := walk(t, v)
	theirs := sevenZipList(t, img)
	for p, e := range theirs {
		n, ok := ours[p]
		if !ok {
			t.Errorf("7zz lists %q, we do not", p)
			continue
		}
		if n.IsDir() != e.dir {
			t.Errorf("%q: dir %v, 7zz says %v", p, n.IsDir(), e.dir)
		}
		if !e.dir && n.Stat.Size != e.size {
			t.Errorf("%q: size %d, 7zz says %d", p, n.Stat.Size, e.size)
		}
	}
	for p := range ours {
		if _, ok := theirs[p]; !ok {
			t.Errorf("we list %q, 7zz does not", p)
		}
	}
	hashes := sevenZipHashes(t, img)
	for p, h := range hashes {
		n, ok := ours[p]
		if !ok {
			continue
		}
		if got := hashNode(t, r, n); got != h {
			t.Errorf("%q: content hash %s, 7zz extracts %s", p, got, h)
		}
	}
	if len(hashes) == 0 && len(theirs) > 0 {
		for _, e := range theirs {
			if !e.dir {
				t.Errorf("7zz extracted nothing from %s", img)
				break
			}
		}
	}
	return ours
}
