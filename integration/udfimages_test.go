//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// udfEntries is a UDF 2.50 tree exercising what Blu-ray and other UDF-only
// media carry: files of block-edge and direct-I/O sizes, data embedded in
// the file entry, files in many extents, a sparse file, hard links,
// symbolic links, Unicode names, owners, permissions with setuid and the
// sticky bit, and distinct modification times.
func udfEntries() []udfbuild.Entry {
	old := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	later := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	es := []udfbuild.Entry{
		{Path: "BDMV", Dir: true, Perm: 0o755, UID: 1000, GID: 100, MTime: old},
		{Path: "BDMV/STREAM", Dir: true, Perm: 0o750, UID: 1000, GID: 100, MTime: later},
		{Path: "BDMV/STREAM/00001.m2ts", Data: pseudoRandom(1, 5<<20+777), Perm: 0o644, UID: 1000, GID: 100, MTime: old},
		// Many extents: 8 blocks each, more than fit in the file entry.
		{Path: "BDMV/STREAM/00002.m2ts", Data: pseudoRandom(2, 3<<20+5), ExtentBlocks: 8, Perm: 0o444, MTime: later},
		{Path: "BDMV/index.bdmv", Data: pseudoRandom(3, 2048), Perm: 0o644, MTime: old},
		{Path: "BDMV/MovieObject.bdmv", Data: pseudoRandom(4, 2047), Perm: 0o644},
		{Path: "BDMV/tiny", Data: []byte("embedded in the file entry\n"), Embed: true, Perm: 0o600, UID: 7, GID: 8},
		{Path: "empty", Data: nil, Perm: 0o644},
		{Path: "one", Data: []byte{42}, Perm: 0o644, MTime: old},
		{Path: "s2049", Data: pseudoRandom(5, 2049), Perm: 0o640},
		{Path: "setuid-tool", Data: pseudoRandom(6, 100), Perm: 0o755 | fs.ModeSetuid},
		{Path: "shared", Dir: true, Perm: 0o777 | fs.ModeSticky},
		{Path: "shared/Grüße.txt", Data: []byte("grüße\n"), Perm: 0o644},
		{Path: "日本語/ファイル.txt", Data: pseudoRandom(7, 300), Perm: 0o644},
		{Path: "hard-a", Data: pseudoRandom(8, 4000), Perm: 0o644, MTime: old},
		{Path: "shared/hard-b", Link: "hard-a"},
		{Path: "rel-link", Symlink: "BDMV/index.bdmv"},
		{Path: "abs-link", Symlink: "/etc/hostname"},
		{Path: "dir-link", Symlink: "../BDMV/STREAM"},
		{Path: "sparse.img", Size: 3<<20 + 100, Chunks: []udfbuild.Chunk{
			{Off: 0, Data: pseudoRandom(9, 4096)}, {Off: 2 << 20, Data: pseudoRandom(10, 8192)}}, Perm: 0o644},
	}
	for i := range 300 {
		es = append(es, udfbuild.Entry{Path: fmt.Sprintf("many/f%03d", i), Data: pseudoRandom(uint64(100+i), i*13), Perm: 0o644})
	}
	return es
}

// writeUDFOracle lays es out on disk as the mount must show it.
func writeUDFOracle(t testing.TB, dir string, es []udfbuild.Entry) {
	t.Helper()
	def := udfbuild.DefaultMTime
	must(t, os.MkdirAll(dir, 0o755))
	var dirs []udfbuild.Entry
	seen := map[string]bool{}
	implicit := func(p string) {
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, udfbuild.Entry{Path: d, Dir: true, Perm: 0o755, MTime: def})
			}
		}
	}
	for _, e := range es {
		p := filepath.Join(dir, e.Path)
		implicit(e.Path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case e.Dir:
			seen[e.Path] = true
			must(t, os.MkdirAll(p, 0o755))
			dirs = append(dirs, e)
			continue
		case e.Link != "":
			must(t, os.Link(filepath.Join(dir, e.Link), p))
			continue
		case e.Symlink != "":
			must(t, os.Symlink(e.Symlink, p))
			continue
		case e.Chunks != nil:
			f, err := os.Create(p)
			must(t, err)
			must(t, f.Truncate(e.Size))
			for _, c := range e.Chunks {
				_, err := f.WriteAt(c.Data, c.Off)
				must(t, err)
			}
			must(t, f.Close())
		default:
			must(t, os.WriteFile(p, e.Data, 0o644))
		}
		setMeta(t, p, e, def)
	}
	// Directories last, deepest first: their children set their times.
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i].Path, "/") > strings.Count(dirs[j].Path, "/") })
	for _, e := range dirs {
		setMeta(t, filepath.Join(dir, e.Path), e, def)
	}
	setMeta(t, dir, udfbuild.Entry{Dir: true, Perm: 0o755, MTime: def}, def)
}

// setMeta gives p e's owner, permissions and modification time.
func setMeta(t testing.TB, p string, e udfbuild.Entry, def time.Time) {
	t.Helper()
	must(t, os.Chown(p, int(e.UID), int(e.GID)))
	// chmod after chown: chown clears setuid.
	must(t, os.Chmod(p, e.Perm))
	mt := e.MTime
	if mt.IsZero() {
		mt = def
	}
	must(t, os.Chtimes(p, mt, mt))
}

// buildUDF250 writes udfEntries as a UDF 2.50 image with a metadata
// partition and extended file entries (what Blu-ray discs use); the
// oracle is the same tree written to disk.
func buildUDF250(t testing.TB, c *imageCase) {
	if os.Getuid() != 0 {
		t.Skip("the oracle tree needs root to own files as other users")
	}
	es := udfEntries()
	img, err := udfbuild.Build(udfbuild.Options{Revision: 0x0250, Metadata: true, EFE: true, VolumeID: "BLURAY"}, es)
	must(t, err)
	d := genDir(t, c.name)
	c.path = filepath.Join(d, "image.iso")
	must(t, os.WriteFile(c.path, img, 0o644))
	c.oracle = filepath.Join(d, "oracle")
	must(t, os.RemoveAll(c.oracle))
	writeUDFOracle(t, c.oracle, es)
	c.hardlinks = [][]string{{"hard-a", "shared/hard-b"}}
}

// buildWindowsBridge makes the layout of a Windows install ISO with
// genisoimage: ISO 9660 + Joliet + UDF 1.02 and an install.wim over 4 GiB that only the UDF tree records whole
// (-allow-limited-size). The source tree is the oracle.
func buildWindowsBridge(t testing.TB, c *imageCase) {
	isotest.RequireTool(t, "genisoimage")
	d := genDir(t, c.name)
	src := filepath.Join(d, "src")
	must(t, os.RemoveAll(src))
	must(t, os.MkdirAll(filepath.Join(src, "sources"), 0o755))
	wim, err := os.Create(filepath.Join(src, "sources", "install.wim"))
	must(t, err)
	const wimSize = 4<<30 + 300000
	must(t, wim.Truncate(wimSize))
	for _, off := range []int64{0, 1<<30 - 3, 4<<30 - 2048 - 5, 4<<30 + 12345, wimSize - 4096} {
		_, err := wim.WriteAt(bytes.Repeat([]byte(fmt.Sprintf("@%d;", off)), 4096)[:4096], off)
		must(t, err)
	}
	must(t, wim.Close())
	writeFile(t, filepath.Join(src, "bootmgr"), 383786)
	writeFile(t, filepath.Join(src, "boot", "etfsboot.com"), 4096)
	writeFile(t, filepath.Join(src, "sources", "boot.wim"), 2<<20+1)
	writeFile(t, filepath.Join(src, "setup.exe"), 80000)
	c.path = filepath.Join(d, "image.iso")
	out, err := exec.Command("genisoimage", "-quiet", "-udf", "-allow-limited-size", "-iso-level", "3", "-J",
		"-o", c.path, src).CombinedOutput()
	if err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, out)
	}
	c.oracle = src
}
