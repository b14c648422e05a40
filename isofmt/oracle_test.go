package isofmt_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// imageIno keys hard links of an opened image the way isotest.DiskIno
// keys them on disk.
func imageIno(fi fs.FileInfo) string {
	st := fi.Sys().(*isofmt.Stat)
	if st.Nlink < 2 || fi.IsDir() {
		return ""
	}
	return fmt.Sprint(st.Inode)
}

var (
	featureOnce sync.Once
	featureDir  string
	featureErr  error
)

// featureSource builds the shared feature tree once per test binary.
func featureSource(t *testing.T) string {
	t.Helper()
	featureOnce.Do(func() {
		d, err := os.MkdirTemp("", "isofmt-feature-")
		if err != nil {
			featureErr = err
			return
		}
		featureDir = filepath.Join(d, "src")
		isotest.FeatureTree(t, featureDir, 5000)
	})
	if featureErr != nil {
		t.Fatal(featureErr)
	}
	return featureDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if featureDir != "" {
		os.RemoveAll(filepath.Dir(featureDir))
	}
	os.Exit(code)
}

// mastering describes how a test image is made.
type mastering struct {
	name string
	tool string
	args func(out, src string) []string
}

var masterings = []mastering{
	{"xorriso-native", "xorriso", func(out, src string) []string {
		return []string{"-outdev", out, "-joliet", "on", "-hardlinks", "on", "-compliance", "joliet_long_names", "-map", src, "/"}
	}},
	{"xorriso-mkisofs", "xorriso", func(out, src string) []string {
		return []string{"-as", "mkisofs", "-quiet", "-rock", "-J", "-joliet-long", "-o", out, src}
	}},
	// genisoimage relocates directories deeper than 8 levels (RR_MOVED).
	{"genisoimage", "genisoimage", func(out, src string) []string {
		return []string{"-quiet", "-rock", "-J", "-joliet-long", "-o", out, src}
	}},
}

var (
	builtMu sync.Mutex
	built   = map[string]string{}
)

// buildImage masters the feature tree once per mastering and test binary.
func buildImage(t *testing.T, m mastering) string {
	t.Helper()
	isotest.RequireTool(t, m.tool)
	src := featureSource(t)
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[m.name]; ok {
		return p
	}
	out := filepath.Join(filepath.Dir(src), m.name+".iso")
	isotest.Run(t, m.tool, m.args(out, src)...)
	built[m.name] = out
	return out
}

// TestTreesMatchXorriso compares each tree of generated images with
// xorriso's extraction of the same tree: names, types, sizes, content
// hashes, link targets, modes, mtimes and hard links.
func TestTreesMatchXorriso(t *testing.T) {
	for _, m := range masterings {
		t.Run(m.name, func(t *testing.T) {
			path := buildImage(t, m)
			img, err := isofmt.OpenFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if got := img.Trees(); len(got) != 3 || got[0] != isofmt.TreeRockRidge {
				t.Fatalf("trees %v, want rockridge, joliet, iso9660", got)
			}
			for _, tc := range []struct {
				tree, readFS string
				opts         isotest.CompareOptions
			}{
				// xorriso restores hard links only from PX serial numbers;
				// hard links are checked against the source tree instead.
				{isofmt.TreeRockRidge, "", isotest.CompareOptions{IgnoreDirMTime: true, IgnoreHardLinks: true}},
				// Joliet and plain trees carry no permissions, links or owners.
				{isofmt.TreeJoliet, "norock", isotest.CompareOptions{IgnorePerm: true, IgnoreLinks: true, IgnoreDirMTime: true}},
				{isofmt.TreeISO9660, "ecma119", isotest.CompareOptions{IgnorePerm: true, IgnoreLinks: true, IgnoreDirMTime: true}},
			} {
				t.Run(tc.tree, func(t *testing.T) {
					view, err := img.WithTree(tc.tree)
					if err != nil {
						t.Fatal(err)
					}
					want := isotest.SnapshotDir(t, isotest.XorrisoExtract(t, path, tc.readFS))
					got := isotest.SnapshotFS(t, view, imageIno)
					if e, ok := want["rr_moved"]; ok && tc.tree == isofmt.TreeRockRidge && e.Type == "dir" {
						// xorriso shows the relocation directory (empty once
						// relocated entries are hidden); isofmt hides it.
						delete(want, "rr_moved")
					}
					if tc.tree != isofmt.TreeRockRidge {
						// Only Rock Ridge records hard links.
						for k, e := range want {
							e.Ino = ""
							want[k] = e
						}
					}
					isotest.Compare(t, want, got, tc.opts)
					if w := img.Warnings(); len(w) > 0 {
						t.Errorf("warnings on a well-formed image: %q", w)
					}
				})
			}
		})
	}
}

// TestRockRidgeMatchesSource compares the Rock Ridge tree with the very
// files each image was made from, hard links included.
func TestRockRidgeMatchesSource(t *testing.T) {
	for _, m := range masterings {
		t.Run(m.name, func(t *testing.T) {
			path := buildImage(t, m)
			img, err := isofmt.OpenFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			want := isotest.SnapshotDir(t, featureSource(t))
			isotest.Compare(t, want, isotest.SnapshotFS(t, img, imageIno), isotest.CompareOptions{})
		})
	}
}
