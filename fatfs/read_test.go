package fatfs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

var (
	samplesMu sync.Mutex
	samples   = map[string][]byte{}
)

// sampleImage returns a decompressed testdata volume, shared between
// tests: callers that change it work on a copy.
func sampleImage(t testing.TB, name string) []byte {
	t.Helper()
	samplesMu.Lock()
	defer samplesMu.Unlock()
	if b, ok := samples[name]; ok {
		return b
	}
	f, err := os.Open(filepath.Join("testdata", name+".img.gz"))
	must(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	must(t, err)
	b, err := io.ReadAll(z)
	must(t, err)
	samples[name] = b
	return b
}

// TestSamples reads the mkfs.fat/mtools volumes: FAT type, label, names
// long and short, contents, times, and the deleted entries with their
// long names and the first character of their short names restored.
func TestSamples(t *testing.T) {
	stamp := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		typ   int
		label string
	}{{"fat12", 12, "FLOPPY"}, {"fat16", 16, "SIXTEEN"}, {"fat32", 32, "THIRTYTWO"}} {
		t.Run(tc.name, func(t *testing.T) {
			img := sampleImage(t, tc.name)
			f, err := Open(bytes.NewReader(img), int64(len(img)))
			must(t, err)
			if f.Type != tc.typ {
				t.Errorf("FAT%d, want FAT%d", f.Type, tc.typ)
			}
			if lb, err := f.Label(); lb != tc.label || err != nil {
				t.Errorf("label %q, %v", lb, err)
			}
			want := map[string]string{"hello.txt": "hello fat\n", "A long file name.txt": "a long name\n", "sub/three-k.bin": strings.Repeat("x", 3000)}
			for p, content := range want {
				got, err := fs.ReadFile(f, p)
				if err != nil || string(got) != content {
					t.Errorf("%s: %q, %v", p, got, err)
				}
				fi, _ := fs.Stat(f, p)
				if fi == nil || !fi.ModTime().Equal(stamp) {
					t.Errorf("%s: mtime %v, want %v", p, fi, stamp)
				}
			}
			// Short names reach the same files, case-insensitively.
			if got, err := fs.ReadFile(f, "alongf~1.txt"); err != nil || string(got) != "a long name\n" {
				t.Errorf("by short name: %q, %v", got, err)
			}
			must(t, fstest.TestFS(f, "hello.txt", "A long file name.txt", "sub/three-k.bin"))

			ents, err := f.ReadDirEntries(".", true)
			must(t, err)
			var deleted []Entry
			for _, e := range ents {
				if e.Deleted {
					deleted = append(deleted, e)
				}
			}
			if len(deleted) != 2 {
				t.Fatalf("deleted entries: %+v", deleted)
			}
			d0, d1 := deleted[0], deleted[1]
			if d1.HasLongName {
				d0, d1 = d1, d0
			}
			if d0.Name != "deleted long name.txt" || !d0.HasLongName || d0.ShortName != "DELETE~1.TXT" || d0.Size != 5 || d0.FirstCluster == 0 {
				t.Errorf("deleted long-named entry: %+v", d0)
			}
			if d1.Name != "?ONE.TXT" || d1.ShortName != "?ONE.TXT" || d1.Size != 6 || d1.FirstCluster == 0 {
				t.Errorf("deleted short-named entry: %+v", d1)
			}
			// The data of a deleted file is still in its clusters.
			buf := make([]byte, 5)
			if _, err := bytes.NewReader(img).ReadAt(buf, f.ClusterOffset(d0.FirstCluster)); err != nil || string(buf) != "gone\n" {
				t.Errorf("deleted data: %q, %v", buf, err)
			}
			if st, err := f.State(d0.FirstCluster); err != nil || st != Free {
				t.Errorf("state of a deleted file's cluster: %v, %v", st, err)
			}
			bm, err := f.Allocation()
			must(t, err)
			if bm.Allocated(d0.FirstCluster) {
				t.Error("the deleted file's cluster is allocated")
			}
			e, _ := fs.Stat(f, "sub/three-k.bin")
			if c := e.Sys().(*Entry).FirstCluster; !bm.Allocated(c) {
				t.Errorf("a live file's cluster %d is free", c)
			}
		})
	}
}

// TestReadMtoolsVolume: a fresh volume written by mkfs.fat and mtools,
// with names long, short, Unicode and many, read back by our reader.
func TestReadMtoolsVolume(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	tree := testTree()
	nodes := map[string]*Node{}
	walkTree(tree, "", nodes)
	for p, n := range nodes {
		full := filepath.Join(src, p)
		if n.Dir {
			must(t, os.MkdirAll(full, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, n.Data.([]byte), 0o644))
		must(t, os.Chtimes(full, n.Modified, n.Modified))
	}
	img := filepath.Join(dir, "vol.img")
	must(t, exec.Command("truncate", "-s", "300M", img).Run())
	if out, err := exec.Command("mkfs.fat", "-F", "32", "-n", "MTOOLS", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.fat: %v\n%s", err, out)
	}
	ents, _ := os.ReadDir(src)
	args := []string{"-s", "-m", "-i", img}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	mtools(t, "mcopy", append(args, "::/")...)
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	fi, _ := f.Stat()
	fsys, err := Open(f, fi.Size())
	must(t, err)
	for p, n := range nodes {
		if n.Dir {
			continue
		}
		got, err := fs.ReadFile(fsys, p)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(n.Data.([]byte)) {
			t.Errorf("%s: %d bytes, %v", p, len(got), err)
		}
		st, _ := fs.Stat(fsys, p)
		if st == nil || !st.ModTime().Equal(TruncateTime(n.Modified)) {
			t.Errorf("%s: mtime %v", p, st)
		}
	}
}

// TestParseDirectory: a deleted directory's cluster, read raw, still lists
// its (deleted) entries.
func TestParseDirectory(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdeltree")
	dir := t.TempDir()
	img := filepath.Join(dir, "v.img")
	must(t, exec.Command("truncate", "-s", "40M", img).Run())
	must(t, exec.Command("mkfs.fat", "-F", "32", img).Run())
	src := filepath.Join(dir, "gone")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a long name inside.txt"), []byte("inside\n"), 0o644))
	mtools(t, "mcopy", "-s", "-i", img, src, "::/")
	b, err := os.ReadFile(img)
	must(t, err)
	v, err := Open(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	fi, err := fs.Stat(v, "gone")
	must(t, err)
	cluster := fi.Sys().(*Entry).FirstCluster
	mtools(t, "mdeltree", "-i", img, "::/gone")
	b, err = os.ReadFile(img)
	must(t, err)
	v, err = Open(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	root, err := v.ReadDirEntries(".", true)
	must(t, err)
	if len(root) != 1 || !root[0].Deleted || root[0].Name != "?one" || !root[0].IsDir() || root[0].FirstCluster != cluster {
		t.Fatalf("root: %+v", root)
	}
	off := v.ClusterOffset(cluster)
	ents, _ := ParseDirectory(b[off:off+v.ClusterSize], off, true)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if len(ents) != 1 || ents[0].Name != "a long name inside.txt" || !ents[0].Deleted || ents[0].Size != 7 {
		t.Fatalf("entries of the deleted directory: %q %+v", names, ents)
	}
}
