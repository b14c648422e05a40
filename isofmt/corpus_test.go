package isofmt_test

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// corpusDir holds third-party test images (see its README.md for each
// image's origin and licence).
var corpusDir = isotest.CorpusDir()

// corpusCases says what each third-party image must give. Images made by
// other implementations are checked against xorriso's extraction when
// oracle is set; malformed ones must yield the stated error or a bounded
// partial result.
var corpusCases = []struct {
	file    string
	wantErr error    // from Open
	trees   []string // trees present (nil: don't check)
	oracle  bool     // compare the default tree with xorriso's extraction
	files   int      // at least this many entries in the default tree
	warn    bool     // Open or the walk must report a warning or error
}{
	{file: "libcdio/copying.iso", trees: []string{"iso9660"}, oracle: true, files: 1},
	{file: "libcdio/copying-rr.iso", trees: []string{"rockridge", "iso9660"}, oracle: true, files: 8},
	{file: "libcdio/joliet.iso", trees: []string{"joliet", "iso9660"}, oracle: true, files: 5},
	{file: "libcdio/deep-directory.iso", trees: []string{"rockridge", "iso9660"}, oracle: true, files: 15},
	{file: "libcdio/multi_extent_8k.iso", oracle: true, files: 1},
	{file: "libcdio/multi_extent_8k_joliet.iso", oracle: true, files: 1},
	{file: "libcdio/multi_extent_8k_emul_toc_padded.iso", oracle: true, files: 1},
	{file: "libcdio/test-udf1.iso", trees: []string{"udf", "rockridge", "joliet", "iso9660"}, oracle: true, files: 2},
	{file: "libcdio/udf102.iso", trees: []string{"udf"}, oracle: true, files: 1},
	{file: "libcdio/bad-dir.iso", warn: true},
	{file: "libcdio/malformed.iso", wantErr: isofmt.ErrUnsupported},
	{file: "libcdio/malformed2.iso", warn: true},
	{file: "isolyzer/iso9660.iso", oracle: true, files: 1},
	{file: "isolyzer/iso9660_udf.iso", trees: []string{"udf", "rockridge", "joliet", "iso9660"}, oracle: true, files: 1},
	{file: "isolyzer/is9660_udf_imgburn.iso", trees: []string{"udf", "joliet", "iso9660"}, oracle: true, files: 1},
	{file: "isolyzer/udf.iso", trees: []string{"udf"}, oracle: true},
	{file: "isolyzer/iso9660_trunc.iso", warn: true},
	{file: "isolyzer/iso9660_nopvd.iso", wantErr: isofmt.ErrNotISO},
	{file: "isolyzer/iso9660_hfs_part_wrongblksize.iso", oracle: true, files: 1},
	{file: "libarchive/test_read_format_iso.iso", oracle: true},
	{file: "libarchive/test_read_format_iso_2.iso", oracle: true, files: 3},
	{file: "libarchive/test_read_format_iso_3.iso", files: 4, warn: true},
	{file: "libarchive/test_read_format_iso_joliet.iso", oracle: true, files: 4},
	{file: "libarchive/test_read_format_iso_joliet_by_nero.iso", oracle: true, files: 2},
	{file: "libarchive/test_read_format_iso_joliet_long.iso", oracle: true, files: 3},
	{file: "libarchive/test_read_format_iso_joliet_rockridge.iso", oracle: true, files: 4},
	{file: "libarchive/test_read_format_iso_joliet_utf16be_overflow.iso", files: 1},
	{file: "libarchive/test_read_format_iso_multi_extent.iso", oracle: true, files: 1},
	{file: "libarchive/test_read_format_iso_rockridge.iso", oracle: true, files: 9},
	{file: "libarchive/test_read_format_iso_rockridge_new.iso", oracle: true, files: 9},
	{file: "libarchive/test_read_format_iso_rockridge_ce.iso", oracle: true, files: 7},
	{file: "libarchive/test_read_format_iso_rockridge_ce_loop.iso", files: 1, warn: true},
	{file: "libarchive/test_read_format_iso_rockridge_rr_moved.iso", oracle: true, files: 10},
	{file: "libarchive/test_read_format_iso_rockridge_zf_overflow.iso", warn: true},
	{file: "libarchive/test_read_format_iso_xorriso.iso", oracle: true, files: 8},
	{file: "libarchive/test_read_format_iso_zisofs.iso", oracle: true, files: 7},
	{file: "libarchive/test_read_format_iso_zisofs_overflow.iso", files: 1, warn: true},
	{file: "libarchive/test_fuzz_1.iso", files: 100},
}

// walkAll visits every entry of every tree and reads every file, returning
// the number of entries and the problems met. It is what a hostile image
// must survive: no panic, no hang, bounded memory.
func walkAll(img *isofmt.Image) (entries int, problems []error) {
	for _, tree := range img.Trees() {
		view, err := img.WithTree(tree)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		n := 0
		fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, err)
				return nil
			}
			n++
			if d.Type().IsRegular() {
				f, err := view.Open(p)
				if err != nil {
					problems = append(problems, err)
					return nil
				}
				if _, err := io.Copy(io.Discard, f.(io.Reader)); err != nil {
					problems = append(problems, err)
				}
			}
			return nil
		})
		if tree == img.Tree() {
			entries = n - 1
		}
	}
	return entries, problems
}

func TestCorpus(t *testing.T) {
	for _, c := range corpusCases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(corpusDir, c.file)
			done := make(chan struct{})
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			go func() {
				defer close(done)
				img, err := isofmt.OpenFile(path, nil)
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) {
						t.Errorf("Open error %v, want %v", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				defer img.Close()
				if c.trees != nil && !slices.Equal(img.Trees(), c.trees) {
					t.Errorf("trees %v, want %v", img.Trees(), c.trees)
				}
				n, problems := walkAll(img)
				if n < c.files {
					t.Errorf("default tree %s has %d entries, want at least %d", img.Tree(), n, c.files)
				}
				if c.warn && len(problems) == 0 && len(img.Warnings()) == 0 {
					t.Errorf("damaged image gave no warning or error")
				}
				if !c.warn && (len(problems) > 0 || len(img.Warnings()) > 0) {
					t.Errorf("well-formed image: problems %v, warnings %q", problems, img.Warnings())
				}
				for _, p := range problems {
					t.Logf("reported: %v", p)
				}
				if c.oracle {
					checkOracle(t, path, img)
				}
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("open + walk did not finish in 2 minutes (hang?)")
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 256<<20 {
				t.Errorf("heap grew by %d MiB", grew>>20)
			}
		})
	}
}

// checkOracle compares the default tree with xorriso's extraction of the
// same tree (xorriso prefers Rock Ridge, then Joliet, then plain, as we do
// for ISO 9660 trees).
func checkOracle(t *testing.T, path string, img *isofmt.Image) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	readFS := ""
	switch img.Tree() {
	case isofmt.TreeUDF:
		// 7-Zip's UDF reader is the independent oracle for UDF trees.
		want := isotest.SnapshotDir(t, isotest.SevenZipExtract(t, path, "udf"))
		got := isotest.SnapshotFS(t, img, imageIno)
		isotest.Compare(t, want, got, isotest.CompareOptions{IgnorePerm: true, IgnoreDirMTime: true, IgnoreHardLinks: true})
		return
	case isofmt.TreeJoliet:
		readFS = "norock"
	case isofmt.TreeISO9660:
		readFS = "ecma119"
	}
	want := isotest.SnapshotDir(t, isotest.XorrisoExtract(t, path, readFS))
	got := isotest.SnapshotFS(t, img, imageIno)
	delete(want, "rr_moved")
	for k, e := range got {
		if e.Type == "other" {
			delete(got, k) // xorriso does not extract device files
		}
	}
	// xorriso normalizes symlink targets; they are checked against bsdtar.
	o := isotest.CompareOptions{IgnoreDirMTime: true, IgnoreHardLinks: true, IgnoreLinks: true}
	if img.Tree() != isofmt.TreeRockRidge {
		o.IgnorePerm = true
	}
	isotest.Compare(t, want, got, o)
	if img.Tree() == isofmt.TreeRockRidge {
		links := isotest.BsdtarLinks(t, path)
		for p, e := range got {
			if e.Type == "symlink" && links[p] != e.Target {
				t.Errorf("%s: link target %q, bsdtar %q", p, e.Target, links[p])
			}
		}
	}
}

// TestDevices checks Rock Ridge device nodes against isoinfo's listing.
func TestDevices(t *testing.T) {
	img, err := isofmt.OpenFile(filepath.Join(corpusDir, "libcdio/copying-rr.iso"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	isotest.RequireTool(t, "isoinfo")
	listing := isotest.Run(t, "isoinfo", "-R", "-l", "-i", filepath.Join(corpusDir, "libcdio/copying-rr.iso"))
	// Device numbers as the image's PN entries hold them (fd0 = 2,0 and
	// zero = 1,5, the Linux numbers of those devices).
	rdev := map[string][2]uint32{"fd0": {2, 0}, "zero": {1, 5}}
	for name, want := range map[string]fs.FileMode{"fd0": fs.ModeDevice, "zero": fs.ModeDevice | fs.ModeCharDevice} {
		fi, err := img.Lstat(name)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*isofmt.Stat)
		if got := [2]uint32{st.DevMajor(), st.DevMinor()}; got != rdev[name] {
			t.Errorf("%s: device %d,%d, want %d,%d", name, got[0], got[1], rdev[name][0], rdev[name][1])
		}
		if fi.Mode().Type() != want {
			t.Errorf("%s: type %v, want %v", name, fi.Mode().Type(), want)
		}
		letter := "b"
		if want&fs.ModeCharDevice != 0 {
			letter = "c"
		}
		if !regexp.MustCompile(`(?m)^` + letter + `\S+ .* ` + name + ` *$`).MatchString(listing) {
			t.Errorf("isoinfo does not list %s as %s:\n%s", name, letter, listing)
		}
	}
}
