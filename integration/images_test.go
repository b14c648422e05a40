//go:build linux

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// imageCase is one image the suite runs against.
type imageCase struct {
	name string
	// build makes the image (and, for generated images whose oracle is
	// the source tree, the oracle); nil for corpus images.
	build func(t testing.TB, c *imageCase)
	path  string
	// oracle is a directory holding the expected tree, made by an
	// independent extractor unless the source tree itself is the oracle.
	oracle string
	// args are extra `isofsd mount` flags.
	args []string
	// modes and mtimes say whether the oracle's permissions and
	// modification times are the image's (Rock Ridge) or made up.
	modes, mtimes bool
	// lba: compare st_blocks and user.isofsd.lba with xorriso's report.
	lba bool
	// hardlinks lists groups of paths that must share one inode.
	hardlinks [][]string
	// damaged corpus images may refuse to mount or differ from every
	// oracle; they must not crash or hang the mount.
	damaged bool
	// oracleNoDevices: the oracle could not recreate device nodes.
	oracleNoDevices bool
	// huge images (4 GiB and more) are deleted once their suite has run.
	huge bool

	once    sync.Once
	skipMsg string
	failMsg string
}

// genDir holds generated sources, images and oracles for the whole run.
func genDir(t testing.TB, name string) string {
	d := filepath.Join(workDir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// prepare builds c's image and oracle once per run.
func (c *imageCase) prepare(t *testing.T) {
	c.once.Do(func() {
		ft := &onceT{TB: t}
		func() {
			defer func() {
				if r := recover(); r != nil && r != ft {
					panic(r)
				}
			}()
			if c.build != nil {
				c.build(ft, c)
			}
			if c.oracle == "" {
				c.oracle = extractOracle(ft, c)
			}
		}()
		c.skipMsg, c.failMsg = ft.skip, ft.fail
	})
	if c.failMsg != "" {
		t.Fatal(c.failMsg)
	}
	if c.skipMsg != "" {
		t.Skip(c.skipMsg)
	}
}

// onceT records a build's failure or skip so that later subtests of the
// same image see it too.
type onceT struct {
	testing.TB
	skip, fail string
}

func (o *onceT) Fatalf(f string, a ...any) { o.fail = fmt.Sprintf(f, a...); panic(o) }
func (o *onceT) Fatal(a ...any)            { o.fail = fmt.Sprint(a...); panic(o) }
func (o *onceT) Skipf(f string, a ...any)  { o.skip = fmt.Sprintf(f, a...); panic(o) }
func (o *onceT) Skip(a ...any)             { o.skip = fmt.Sprint(a...); panic(o) }

// extractOracle extracts c.path with the extractor that reads the same
// tree isofsd mounts: xorriso for Rock Ridge, 7-Zip for the others.
func extractOracle(t testing.TB, c *imageCase) string {
	img, err := isofmt.OpenFile(c.path, nil)
	tree := ""
	if err == nil {
		tree = img.Tree()
		img.Close()
	}
	dir := filepath.Join(workDir, "oracle", c.name)
	os.RemoveAll(dir)
	// xorriso gives the directory it creates the image root's attributes.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	switch tree {
	case isofmt.TreeRockRidge:
		cmd = exec.Command("xorriso", "-osirrox", "on:device_files", "-indev", c.path, "-extract", "/", dir)
	default:
		isotest.RequireTool(t, "7zz")
		cmd = exec.Command("7zz", "x", "-y", "-o"+dir, c.path)
	}
	out, err := cmd.CombinedOutput()
	if err != nil && tree == isofmt.TreeRockRidge && strings.Contains(string(out), "Cannot restore") {
		// Some device numbers cannot be recreated here (xorriso and
		// mknod disagree about old RRIP 1.10 PN entries): extract without
		// devices and compare them by type only.
		os.RemoveAll(dir)
		c.oracleNoDevices = true
		cmd = exec.Command("xorriso", "-osirrox", "on", "-indev", c.path, "-extract", "/", dir)
		out, err = cmd.CombinedOutput()
	}
	if err != nil {
		t.Fatalf("oracle %v: %v\n%s", cmd.Args, err, out)
	}
	// An empty image extracts to nothing at all.
	must(t, os.MkdirAll(dir, 0o755))
	return dir
}

// pseudoRandom returns n bytes determined by seed and n.
func pseudoRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeFile writes n pseudo-random bytes (seeded by name) to p.
func writeFile(t testing.TB, p string, n int) {
	t.Helper()
	b := pseudoRandom(uint64(len(p)), n)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// longName is 200+ bytes: beyond Joliet's 103 and ISO 9660's 31.
var longName = strings.Repeat("long-name-", 20) + "end"

// makeRichSource builds a tree exercising everything Rock Ridge carries.
// It returns the hard link groups it made.
func makeRichSource(t testing.TB, src string, withDevices bool) [][]string {
	for _, f := range []struct {
		name string
		size int
	}{{"empty", 0}, {"one", 1}, {"s2047", 2047}, {"s2048", 2048}, {"s2049", 2049}, {"mid.bin", 1<<20 + 3}, {"big.bin", 5 << 20},
		{longName, 1000}, {"Grüße.txt", 10}, {"日本語/ファイル.txt", 100}, {"emoji-😀.txt", 7}, {"café/naïve", 5000}, {"sub/x.txt", 12}} {
		writeFile(t, filepath.Join(src, f.name), f.size)
	}
	deep := src
	for i := range 12 {
		deep = filepath.Join(deep, fmt.Sprintf("level%02d", i))
	}
	writeFile(t, filepath.Join(deep, "bottom.txt"), 33)
	must(t, os.MkdirAll(filepath.Join(src, "emptydir"), 0o755))
	must(t, os.MkdirAll(filepath.Join(src, longName+"-dir"), 0o755))
	writeFile(t, filepath.Join(src, longName+"-dir", "inside"), 3)
	must(t, os.Symlink("one", filepath.Join(src, "rel-link")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(src, "abs-link")))
	must(t, os.Symlink("nowhere/at/all", filepath.Join(src, "dangling")))
	must(t, os.Symlink("level00/level01", filepath.Join(src, "dir-link")))
	writeFile(t, filepath.Join(src, "hard-a"), 4000)
	must(t, os.Link(filepath.Join(src, "hard-a"), filepath.Join(src, "hard-b")))
	must(t, os.Link(filepath.Join(src, "hard-a"), filepath.Join(src, "sub", "hard-c")))
	for name, mode := range map[string]os.FileMode{"mode-0600": 0o600, "mode-0755": 0o755, "setuid": 0o4755, "mode-0640": 0o640} {
		writeFile(t, filepath.Join(src, name), 20)
		must(t, os.Chmod(filepath.Join(src, name), mode))
	}
	must(t, os.Mkdir(filepath.Join(src, "dir-0700"), 0o700))
	writeFile(t, filepath.Join(src, "dir-0700", "secret"), 8)
	many := filepath.Join(src, "many")
	must(t, os.MkdirAll(many, 0o755))
	for i := range 5000 {
		b := []byte(fmt.Sprintf("file %d\n", i))
		if i%3 == 0 {
			b = nil
		}
		must(t, os.WriteFile(filepath.Join(many, fmt.Sprintf("f%04d", i)), b, 0o644))
	}
	if withDevices {
		dev := filepath.Join(src, "dev")
		must(t, os.MkdirAll(dev, 0o755))
		if err := syscall.Mknod(filepath.Join(dev, "null"), syscall.S_IFCHR|0o666, int(1<<8|3)); err == nil {
			must(t, syscall.Mknod(filepath.Join(dev, "loop7"), syscall.S_IFBLK|0o660, int(7<<8|7)))
			must(t, syscall.Mkfifo(filepath.Join(dev, "fifo"), 0o644))
		}
	}
	// Distinct, old and future modification times.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(src, "one"), old, old))
	future := time.Date(2037, 12, 31, 23, 59, 58, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(src, "s2048"), future, future))
	must(t, os.Chtimes(filepath.Join(src, "emptydir"), old, old))
	return [][]string{{"hard-a", "hard-b", "sub/hard-c"}}
}

// makeSimpleSource builds a tree plain ISO 9660 and Joliet can carry:
// no links or devices, names within their limits.
func makeSimpleSource(t testing.TB, src string) {
	for _, f := range []struct {
		name string
		size int
	}{{"empty", 0}, {"readme.txt", 100}, {"s2048", 2048}, {"mid.bin", 300000}, {"docs/manual.pdf", 70000},
		{"docs/deeper/still/deeper/x.dat", 5}, {"Grüße.txt", 10}, {"a-name-with-more-than-thirty-one-chars.text", 44}} {
		writeFile(t, filepath.Join(src, f.name), f.size)
	}
	must(t, os.MkdirAll(filepath.Join(src, "emptydir"), 0o755))
	for i := range 300 {
		writeFile(t, filepath.Join(src, "many", fmt.Sprintf("f%03d", i)), i)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// buildRich makes the Rock Ridge + Joliet image with xorriso.
func buildRich(t testing.TB, c *imageCase) {
	isotest.RequireTool(t, "xorriso")
	d := genDir(t, c.name)
	src := filepath.Join(d, "src")
	c.hardlinks = makeRichSource(t, src, true)
	c.path = filepath.Join(d, "image.iso")
	xorriso(t, "-as", "mkisofs", "-R", "-J", "-joliet-long", "-V", "RICH", "-o", c.path, src)
}

// buildZisofs makes a Rock Ridge image whose files are zisofs-compressed.
func buildZisofs(t testing.TB, c *imageCase) {
	isotest.RequireTool(t, "xorriso")
	d := genDir(t, c.name)
	src := filepath.Join(d, "src")
	writeFile(t, filepath.Join(src, "random.bin"), 700000)
	text := strings.Repeat("zisofs compresses this line very well. ", 30000)
	must(t, os.WriteFile(filepath.Join(src, "text.txt"), []byte(text), 0o644))
	writeFile(t, filepath.Join(src, "sub", "small.txt"), 5)
	c.path = filepath.Join(d, "image.iso")
	xorriso(t, "-outdev", c.path, "-zisofs", "level=6", "-map", src, "/", "-set_filter_r", "--zisofs", "/", "--", "-commit")
}

// buildGenisoimage makes plain or Joliet images with genisoimage.
func buildGenisoimage(flags ...string) func(t testing.TB, c *imageCase) {
	return func(t testing.TB, c *imageCase) {
		isotest.RequireTool(t, "genisoimage")
		d := genDir(t, c.name)
		src := filepath.Join(d, "src")
		makeSimpleSource(t, src)
		c.path = filepath.Join(d, "image.iso")
		args := append(append([]string{}, flags...), "-quiet", "-o", c.path, src)
		if out, err := exec.Command("genisoimage", args...).CombinedOutput(); err != nil {
			t.Fatalf("genisoimage %v: %v\n%s", args, err, out)
		}
	}
}

// buildMultiExtent makes an -iso-level 3 image holding a sparse file of
// more than 4 GiB, which ISO 9660 must split into several extents. The
// source tree is the oracle (extracting 4 GiB would double the cost).
func buildMultiExtent(t testing.TB, c *imageCase) {
	isotest.RequireTool(t, "xorriso")
	d := genDir(t, c.name)
	src := filepath.Join(d, "src")
	must(t, os.MkdirAll(src, 0o755))
	p := filepath.Join(src, "huge.bin")
	f, err := os.Create(p)
	must(t, err)
	const size = 4<<30 + 12345
	must(t, f.Truncate(size))
	// Recognisable data around the 4 GiB extent boundaries.
	for _, off := range []int64{0, 4<<30 - 2048 - 100, 4<<30 - 100, size - 5000} {
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(off>>11) ^ byte(i*7)
		}
		_, err := f.WriteAt(b[:min(int64(len(b)), size-off)], off)
		must(t, err)
	}
	must(t, f.Close())
	writeFile(t, filepath.Join(src, "after.txt"), 3000)
	c.path = filepath.Join(d, "image.iso")
	xorriso(t, "-as", "mkisofs", "-iso-level", "3", "-R", "-o", c.path, src)
	c.oracle = src
}

// generatedCases are the images built by the test.
func generatedCases() []*imageCase {
	cases := []*imageCase{
		{name: "xorriso-rr-joliet", build: buildRich, modes: true, mtimes: true, lba: true},
		{name: "xorriso-zisofs", build: buildZisofs, modes: true, mtimes: true, lba: true},
		{name: "genisoimage-plain", build: buildGenisoimage(), mtimes: true},
		{name: "genisoimage-joliet", build: buildGenisoimage("-J"), mtimes: true},
		{name: "genisoimage-rr", build: buildGenisoimage("-R", "-J"), modes: true, mtimes: true, lba: true},
	}
	cases = append(cases, &imageCase{name: "udfbuild-2.50-metadata", build: buildUDF250, modes: true, mtimes: true})
	if !testing.Short() {
		cases = append(cases, &imageCase{name: "xorriso-multi-extent-4g", build: buildMultiExtent, modes: true, mtimes: true, lba: true, huge: true},
			&imageCase{name: "genisoimage-udf-bridge-4g", build: buildWindowsBridge, mtimes: true, huge: true})
	}
	return cases
}

// corpusDamaged lists corpus images that are broken on purpose.
var corpusDamaged = map[string]bool{
	"bad-dir.iso": true, "malformed.iso": true, "malformed2.iso": true,
	"iso9660_trunc.iso": true, "iso9660_nopvd.iso": true, "iso9660_hfs_part_wrongblksize.iso": true,
	"test_read_format_iso_rockridge_ce_loop.iso": true, "test_read_format_iso_rockridge_zf_overflow.iso": true,
	"test_read_format_iso_zisofs_overflow.iso": true, "test_read_format_iso_joliet_utf16be_overflow.iso": true,
	"test_fuzz_1.iso": true, "is9660_udf_imgburn.iso": true,
}

// corpusCases lists every image of the third-party corpus.
func corpusCases(t testing.TB) []*imageCase {
	var out []*imageCase
	for _, p := range isotest.CorpusImages(t) {
		abs, _ := filepath.Abs(p)
		base := filepath.Base(p)
		c := &imageCase{name: "corpus-" + filepath.Base(filepath.Dir(p)) + "-" + strings.TrimSuffix(base, ".iso"), path: abs, damaged: corpusDamaged[base]}
		img, err := isofmt.OpenFile(abs, nil)
		switch {
		case err == nil:
			if img.Tree() == isofmt.TreeRockRidge {
				c.modes, c.mtimes = true, true
			}
			img.Close()
		case !c.damaged:
			// A well-formed image isofmt cannot read yet (UDF-only
			// images before the UDF tree lands).
			c.skipMsg = fmt.Sprintf("isofmt cannot open this image yet: %v", err)
		}
		out = append(out, c)
	}
	return out
}
