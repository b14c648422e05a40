//go:build linux

package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// randomFill fills b with bytes from a seeded generator.
func randomFill(seed byte, b []byte) {
	rand.NewChaCha8([32]byte{seed}).Read(b)
}

// writers are the two ways the package writes: the Linux *at writer and
// the portable os.Root one that every other system uses. Tests of what
// must hold everywhere run through both.
var writers = []struct {
	name     string
	portable bool
}{{"linux", false}, {"portable", true}}

// mkISO masters src with xorriso (Rock Ridge, Joliet, hard links).
func mkISO(t testing.TB, src string, extra ...string) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	iso := filepath.Join(t.TempDir(), "img.iso")
	args := append([]string{"-hardlinks", "on", "-joliet", "on", "-outdev", iso}, extra...)
	isotest.Run(t, "xorriso", append(args, "-map", src, "/")...)
	return iso
}

func openISO(t testing.TB, iso, tree string) *isofmt.Image {
	t.Helper()
	img, err := isofmt.OpenFile(iso, &isofmt.Options{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// extractTo runs Run and returns its result and events.
func extractTo(t *testing.T, img *isofmt.Image, dir string, o Options) (*Result, []Event) {
	t.Helper()
	var evs []Event
	o.Report = func(e Event) { evs = append(evs, e) }
	res, err := Run(context.Background(), img, dir, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, evs
}

// failures lists the paths of Failed events.
func failures(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == Failed {
			out = append(out, fmt.Sprintf("%s: %v", e.Path, e.Err))
		}
	}
	return out
}

func writeFile(t testing.TB, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s: written outside DIR: %q", dir, names)
	}
}

// TestMatchesXorriso extracts a tree with every feature through both
// writers and compares names, types, contents, link targets, modes,
// mtimes and hard links with what xorriso -osirrox extracts.
func TestMatchesXorriso(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	isotest.FeatureTree(t, src, 50)
	iso := mkISO(t, src)
	oracle := isotest.SnapshotDir(t, isotest.XorrisoExtract(t, iso, ""))
	img := openISO(t, iso, "")
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, evs := extractTo(t, img, out, Options{portable: w.portable, Metadata: DefaultMetadata()})
			if res.Failed != 0 || res.Links == 0 {
				t.Fatalf("%+v %q", res, failures(evs))
			}
			isotest.Compare(t, oracle, isotest.SnapshotDir(t, out), isotest.CompareOptions{})
		})
	}
}

// TestBigFile extracts a file large enough to be copied in ranges by
// several workers, and with one worker, through both writers: byte for
// byte the source, mode and mtime restored.
func TestBigFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, bigFileSize+bigChunkSize/2+12345)
	randomFill(3, data)
	writeFile(t, filepath.Join(src, "huge.bin"), string(data), 0o640)
	os.Chtimes(filepath.Join(src, "huge.bin"), isotest.Stamp, isotest.Stamp)
	img := openISO(t, mkISO(t, src), "")
	os.RemoveAll(src)
	for _, w := range writers {
		for _, jobs := range []int{4, 1} {
			t.Run(fmt.Sprint(w.name, "/j", jobs), func(t *testing.T) {
				out := t.TempDir()
				res, evs := extractTo(t, img, out, Options{portable: w.portable, Workers: jobs})
				if res.Failed != 0 || res.Bytes != int64(len(data)) {
					t.Fatalf("%+v %q", res, failures(evs))
				}
				got, err := os.ReadFile(filepath.Join(out, "huge.bin"))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("content differs (%d bytes, want %d): %v", len(got), len(data), err)
				}
				fi, _ := os.Stat(filepath.Join(out, "huge.bin"))
				if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(isotest.Stamp) {
					t.Errorf("mode %v mtime %v", fi.Mode(), fi.ModTime())
				}
			})
		}
	}
}

// TestHostileNames (moved from cmd/isofsd's TestExtractHostile, now run
// through both writers): in the Joliet tree a directory is recorded as
// ".." and a file as "a/b", in the plain tree a directory as "..". The
// parser renames them ("__", "a_b"), so they are extracted inside DIR,
// never outside it, under every overwrite policy.
func TestHostileNames(t *testing.T) {
	iso, outside := isotest.HostileNamesImage(t)
	cases := []struct {
		tree  string
		files map[string]string
	}{
		{"joliet", map[string]string{"__/escaped": "x", "a_b": "slash", "ok/fine.txt": "fine"}},
		{"iso9660", map[string]string{"__/ESCAPED": "x", "OK/FINE.TXT": "fine"}},
	}
	for _, w := range writers {
		for _, c := range cases {
			img := openISO(t, iso, c.tree)
			for _, pol := range []Overwrite{Refuse, Replace} {
				t.Run(fmt.Sprint(w.name, "/", c.tree, "/", pol), func(t *testing.T) {
					base := t.TempDir()
					out := filepath.Join(base, "out")
					res, evs := extractTo(t, img, out, Options{portable: w.portable, Overwrite: pol})
					if res.Failed != 0 {
						t.Errorf("problems: %q", failures(evs))
					}
					emptyDir(t, outside)
					if ents, _ := os.ReadDir(base); len(ents) != 1 {
						t.Errorf("entries beside DIR: %v", ents)
					}
					for rel, want := range c.files {
						if got := readFile(filepath.Join(out, rel)); got != want {
							t.Errorf("%s: %q, want %q", rel, got, want)
						}
					}
				})
			}
		}
	}
}

// TestSymlinksInDestination: a symlink already in DIR — absolute to a
// directory outside, or relative to another directory inside DIR (which
// os.Root alone would follow) — is never written through. The image's
// directory of that name is refused under Refuse (and left alone under
// Skip); Replace replaces the symlink by the directory; nothing lands
// outside DIR or in the symlink's target.
func TestSymlinksInDestination(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "abs", "pwned"), "pwned", 0o644)
	writeFile(t, filepath.Join(src, "rel", "pwned"), "pwned", 0o644)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		for _, pol := range []Overwrite{Refuse, Skip, Replace, Rename} {
			t.Run(fmt.Sprint(w.name, "/", pol), func(t *testing.T) {
				base := t.TempDir()
				outside := filepath.Join(base, "outside")
				out := filepath.Join(base, "out")
				os.MkdirAll(outside, 0o755)
				os.MkdirAll(filepath.Join(out, "inside"), 0o755)
				os.Symlink(outside, filepath.Join(out, "abs"))
				os.Symlink("inside", filepath.Join(out, "rel"))
				res, evs := extractTo(t, img, out, Options{portable: w.portable, Overwrite: pol})
				emptyDir(t, outside)
				emptyDir(t, filepath.Join(out, "inside"))
				for _, name := range []string{"abs", "rel"} {
					fi, err := os.Lstat(filepath.Join(out, name))
					if err != nil {
						t.Fatal(err)
					}
					switch pol {
					case Replace:
						if !fi.IsDir() || readFile(filepath.Join(out, name, "pwned")) != "pwned" {
							t.Errorf("%s: not replaced by the directory: %v", name, fi.Mode())
						}
					case Rename:
						if fi.Mode()&fs.ModeSymlink == 0 || readFile(filepath.Join(out, name+"_1", "pwned")) != "pwned" {
							t.Errorf("%s: symlink not kept, or %s_1/pwned not written", name, name)
						}
					default:
						if fi.Mode()&fs.ModeSymlink == 0 {
							t.Errorf("%s: symlink replaced under %v", name, pol)
						}
					}
				}
				wantFailed := map[Overwrite]int{Refuse: 2}[pol]
				if res.Failed != wantFailed || pol == Skip && res.Existing != 2 {
					t.Errorf("%d problems (want %d), %d existing: %q", res.Failed, wantFailed, res.Existing, failures(evs))
				}
			})
		}
	}
}

// TestTwoImageSymlinkAttack: the classic two-archive attack. A first
// image puts a symlink "evil" -> outside into DIR; a second one has a
// directory evil/ with a file. The file never lands outside DIR: refused,
// or (Replace) the symlink is replaced by a real directory.
func TestTwoImageSymlinkAttack(t *testing.T) {
	iso1, outside := isotest.HostileNamesImage(t)
	src2 := filepath.Join(t.TempDir(), "src2")
	writeFile(t, filepath.Join(src2, "evil", "pwned"), "pwned", 0o644)
	img1, img2 := openISO(t, iso1, ""), openISO(t, mkISO(t, src2), "")
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if res, evs := extractTo(t, img1, out, Options{portable: w.portable, Include: []string{"evil"}}); res.Failed != 0 {
				t.Fatal(failures(evs))
			}
			if tgt, err := os.Readlink(filepath.Join(out, "evil")); err != nil || tgt != outside {
				t.Fatalf("symlink not extracted verbatim: %q %v", tgt, err)
			}
			res, evs := extractTo(t, img2, out, Options{portable: w.portable})
			if res.Failed == 0 || !strings.Contains(strings.Join(failures(evs), "\n"), "evil") {
				t.Errorf("file under the symlink: not refused: %+v %q", res, failures(evs))
			}
			emptyDir(t, outside)
			if res, evs := extractTo(t, img2, out, Options{portable: w.portable, Overwrite: Replace}); res.Failed != 0 {
				t.Errorf("Replace: %q", failures(evs))
			}
			emptyDir(t, outside)
			if got := readFile(filepath.Join(out, "evil", "pwned")); got != "pwned" {
				t.Errorf("Replace: evil/pwned: %q", got)
			}
		})
	}
}

// TestOverwritePolicies: an existing file, a symlink to a file outside
// DIR and an empty directory where the image has files, and a directory
// the image has too (merged into under every policy).
func TestOverwritePolicies(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.txt"), "new a", 0o600)
	writeFile(t, filepath.Join(src, "b.txt"), "new b", 0o644)
	writeFile(t, filepath.Join(src, "c.txt"), "new c", 0o644)
	writeFile(t, filepath.Join(src, "d", "f"), "new f", 0o644)
	writeFile(t, filepath.Join(src, "d", "g"), "new g", 0o644)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		for _, pol := range []Overwrite{Refuse, Skip, Replace, Rename} {
			t.Run(fmt.Sprint(w.name, "/", pol), func(t *testing.T) {
				base := t.TempDir()
				target := filepath.Join(base, "target")
				writeFile(t, target, "outside", 0o600)
				out := filepath.Join(base, "out")
				writeFile(t, filepath.Join(out, "a.txt"), "old a", 0o644)
				os.Symlink(target, filepath.Join(out, "b.txt"))
				os.Mkdir(filepath.Join(out, "c.txt"), 0o755)
				writeFile(t, filepath.Join(out, "d", "f"), "old f", 0o644)
				res, evs := extractTo(t, img, out, Options{portable: w.portable, Overwrite: pol})
				if got := readFile(target); got != "outside" {
					t.Errorf("the symlink's target was written: %q", got)
				}
				if got := readFile(filepath.Join(out, "d", "g")); got != "new g" {
					t.Errorf("d/g (merged directory): %q", got)
				}
				get := func(n string) string { return readFile(filepath.Join(out, n)) }
				isLink := func(n string) bool {
					fi, err := os.Lstat(filepath.Join(out, n))
					return err == nil && fi.Mode()&fs.ModeSymlink != 0
				}
				switch pol {
				case Refuse, Skip:
					if get("a.txt") != "old a" || get("d/f") != "old f" || !isLink("b.txt") {
						t.Errorf("replaced under %v: a=%q f=%q", pol, get("a.txt"), get("d/f"))
					}
					want := map[Overwrite][2]int{Refuse: {4, 0}, Skip: {0, 4}}[pol]
					if res.Failed != want[0] || res.Existing != want[1] {
						t.Errorf("%d problems, %d existing; want %v: %q", res.Failed, res.Existing, want, failures(evs))
					}
					for _, e := range evs {
						if e.Kind == Failed && !errors.Is(e.Err, ErrExists) {
							t.Errorf("%s: %v, want ErrExists", e.Path, e.Err)
						}
					}
				case Replace:
					if get("a.txt") != "new a" || get("b.txt") != "new b" || get("c.txt") != "new c" || get("d/f") != "new f" || isLink("b.txt") {
						t.Errorf("not replaced: a=%q b=%q c=%q f=%q", get("a.txt"), get("b.txt"), get("c.txt"), get("d/f"))
					}
					if fi, _ := os.Stat(filepath.Join(out, "a.txt")); fi.Mode().Perm() != 0o600 {
						t.Errorf("a.txt mode %v, want the image's 0600", fi.Mode())
					}
				case Rename:
					if get("a.txt") != "old a" || get("a_1.txt") != "new a" || get("b_1.txt") != "new b" || get("c_1.txt") != "new c" ||
						get("d/f") != "old f" || get("d/f_1") != "new f" || !isLink("b.txt") {
						t.Errorf("rename: a=%q a_1=%q b_1=%q c_1=%q f_1=%q", get("a.txt"), get("a_1.txt"), get("b_1.txt"), get("c_1.txt"), get("d/f_1"))
					}
				}
				if pol != Refuse && res.Failed != 0 {
					t.Errorf("problems: %q", failures(evs))
				}
				// No temporary file is left behind.
				filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
					if err == nil && strings.HasPrefix(d.Name(), ".isofsd-") {
						t.Errorf("temporary file left: %s", p)
					}
					return nil
				})
			})
		}
	}
}

// TestDryRun lists what would happen and writes nothing: not DIR when it
// is missing, nothing in it when it exists.
func TestDryRun(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.txt"), "new a", 0o644)
	writeFile(t, filepath.Join(src, "d", "f"), "new f", 0o644)
	writeFile(t, filepath.Join(src, "e", "g"), "new g", 0o644)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			base := t.TempDir()
			missing := filepath.Join(base, "missing")
			res, evs := extractTo(t, img, missing, Options{portable: w.portable, DryRun: true})
			if _, err := os.Lstat(missing); err == nil {
				t.Error("dry run created DIR")
			}
			if res.Files != 3 || res.Dirs != 2 || res.Bytes != 15 || len(evs) != 5 {
				t.Errorf("dry run into a missing DIR: %+v, %d events", res, len(evs))
			}
			out := filepath.Join(base, "out")
			writeFile(t, filepath.Join(out, "a.txt"), "old", 0o644)
			writeFile(t, filepath.Join(out, "d", "f"), "old", 0o644)
			before := isotest.SnapshotDir(t, out)
			_, evs = extractTo(t, img, out, Options{portable: w.portable, DryRun: true, Overwrite: Rename})
			isotest.Compare(t, before, isotest.SnapshotDir(t, out), isotest.CompareOptions{})
			got := map[string]string{}
			for _, e := range evs {
				if e.Kind == Planned {
					got[e.Path] = string(e.Action) + " " + e.Dest
				}
			}
			want := map[string]string{"a.txt": "rename a_1.txt", "d": "merge d", "d/f": "rename f_1", "e": "create e", "e/g": "create g"}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// cancelAfter is a Progress that cancels a context once n bytes are
// copied: an interruption in the middle of a file.
type cancelAfter struct {
	n      int64
	done   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(int64) {}
func (c *cancelAfter) Add(n int64) {
	if c.done.Add(n) >= c.n {
		c.cancel()
	}
}

// TestInterrupt cancels a run in the middle of a file (a big one copied
// in ranges by four workers, and by one worker): no file is left under
// its final name with part of its data, no temporary file is left, an
// existing file being replaced keeps its old content, and the directory
// being filled gets its final mode, not the 0700 it is filled with.
// (The existing file is in DIR itself: an existing directory is merged
// into and keeps its own mode.)
func TestInterrupt(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, bigFileSize+4<<20)
	randomFill(5, data)
	writeFile(t, filepath.Join(src, "sub", "big.bin"), string(data), 0o644)
	writeFile(t, filepath.Join(src, "old.bin"), string(data[:1<<20]), 0o644)
	os.Chmod(filepath.Join(src, "sub"), 0o750)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		for _, jobs := range []int{4, 1} {
			t.Run(fmt.Sprint(w.name, "/j", jobs), func(t *testing.T) {
				out := t.TempDir()
				writeFile(t, filepath.Join(out, "old.bin"), "old content", 0o644)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				prog := &cancelAfter{n: 3 << 20, cancel: cancel}
				res, err := Run(ctx, img, out, Options{portable: w.portable, Workers: jobs, Overwrite: Replace, Progress: prog})
				if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted {
					t.Fatalf("Run: %v %+v", err, res)
				}
				if got := readFile(filepath.Join(out, "old.bin")); got != "old content" && got != string(data[:1<<20]) {
					t.Errorf("old.bin: neither the old content nor the complete new one (%d bytes)", len(got))
				}
				// 3 MiB into a 36 MiB file: it cannot have been completed.
				if b, err := os.ReadFile(filepath.Join(out, "sub", "big.bin")); err == nil {
					t.Errorf("big.bin left with %d of %d bytes under its final name", len(b), len(data))
				}
				for _, d := range []string{out, filepath.Join(out, "sub")} {
					ents, _ := os.ReadDir(d)
					for _, e := range ents {
						if strings.HasPrefix(e.Name(), ".isofsd-") {
							t.Errorf("temporary file left: %s", e.Name())
						}
					}
				}
				if fi, _ := os.Stat(filepath.Join(out, "sub")); fi.Mode().Perm() != 0o750 {
					t.Errorf("sub left at %v, want 0750", fi.Mode().Perm())
				}
			})
		}
	}
}

// TestFilterPartial: a Filter keeping two ranges of a file gets exactly
// those bytes written, zeros (holes, taking no blocks) elsewhere, the
// file's full size, and a Partial event naming the ranges.
func TestFilterPartial(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, 4<<20)
	randomFill(7, data)
	writeFile(t, filepath.Join(src, "part.bin"), string(data), 0o640)
	writeFile(t, filepath.Join(src, "gone.bin"), "gone", 0o644)
	writeFile(t, filepath.Join(src, "whole.bin"), "whole", 0o644)
	img := openISO(t, mkISO(t, src), "")
	keep := []Range{{0, 1 << 20}, {3 << 20, 1 << 20}}
	filter := func(p string, n *isofmt.Node) Decision {
		switch p {
		case "part.bin":
			return Decision{Ranges: keep, Reason: "middle unreadable"}
		case "gone.bin":
			return Decision{Skip: true, Reason: "all unreadable"}
		}
		return Decision{}
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			out := t.TempDir()
			res, evs := extractTo(t, img, out, Options{portable: w.portable, Filter: filter})
			if res.Partial != 1 || res.Skipped != 1 || res.Failed != 0 {
				t.Errorf("%+v %q", res, failures(evs))
			}
			got, err := os.ReadFile(filepath.Join(out, "part.bin"))
			if err != nil || len(got) != len(data) {
				t.Fatalf("part.bin: %d bytes, %v", len(got), err)
			}
			want := bytes.Clone(data)
			clear(want[1<<20 : 3<<20])
			if !bytes.Equal(got, want) {
				t.Error("part.bin: not the kept ranges with zeros between")
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(out, "part.bin"), &st); err == nil && st.Blocks*512 > 3<<20 {
				t.Errorf("part.bin takes %d bytes: the hole is not sparse", st.Blocks*512)
			}
			if _, err := os.Stat(filepath.Join(out, "gone.bin")); err == nil {
				t.Error("gone.bin written")
			}
			if readFile(filepath.Join(out, "whole.bin")) != "whole" {
				t.Error("whole.bin not written whole")
			}
			for _, e := range evs {
				if e.Kind == Partial && (e.Path != "part.bin" || len(e.Written) != 2 || e.Written[0] != keep[0] || e.Written[1] != keep[1]) {
					t.Errorf("partial event %+v", e)
				}
			}
		})
	}
}

// TestDevices (moved from cmd/isofsd's TestExtractDevicesNeedRoot)
// extracts an image holding a character and a block device and a FIFO:
// with Metadata.Devices they are created with their numbers; without,
// devices are skipped with a reason and the run succeeds; the portable
// writer skips FIFOs and devices, saying so.
func TestDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("building an image with device nodes needs root (mknod)")
	}
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "plain"), "p", 0o644)
	if err := unix.Mknod(filepath.Join(src, "chr"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if err := unix.Mknod(filepath.Join(src, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if err := unix.Mkfifo(filepath.Join(src, "fifo"), 0o4755); err != nil {
		t.Fatal(err)
	}
	unix.Chmod(filepath.Join(src, "fifo"), 0o4755)
	img := openISO(t, mkISO(t, src), "")
	for _, c := range []struct {
		name     string
		portable bool
		meta     Metadata
		skipped  int
	}{{"root", false, DefaultMetadata(), 0}, {"no-devices", false, Metadata{}, 2}, {"portable", true, DefaultMetadata(), 3}} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			res, evs := extractTo(t, img, out, Options{portable: c.portable, Metadata: c.meta})
			if res.Failed != 0 || res.Skipped != c.skipped {
				t.Errorf("%+v %q", res, failures(evs))
			}
			if readFile(filepath.Join(out, "plain")) != "p" {
				t.Error("plain file missing")
			}
			var st unix.Stat_t
			errC := unix.Lstat(filepath.Join(out, "chr"), &st)
			if c.skipped > 0 {
				if errC == nil {
					t.Error("chr created")
				}
				for _, e := range evs {
					if e.Kind == Skipped && !strings.Contains(e.Err.Error(), "needs root") && !strings.Contains(e.Err.Error(), "not created on this system") {
						t.Errorf("skipped %s: %v", e.Path, e.Err)
					}
				}
				return
			}
			if errC != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(uint64(st.Rdev)) != 1 || unix.Minor(uint64(st.Rdev)) != 3 || st.Mode&0o777 != 0o640 {
				t.Errorf("chr: %v mode %o rdev %d,%d", errC, st.Mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
			}
			if err := unix.Lstat(filepath.Join(out, "blk"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(uint64(st.Rdev)) != 7 || unix.Minor(uint64(st.Rdev)) != 200 {
				t.Errorf("blk: %v mode %o rdev %d,%d", err, st.Mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
			}
			if err := unix.Lstat(filepath.Join(out, "fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o7777 != 0o4755 {
				t.Errorf("fifo: %v mode %o", err, st.Mode)
			}
		})
	}
}

// TestSetMetaRefusesSwapped is the deterministic half of the race test in
// cmd/isofsd (TestExtractFIFOSwapRace): when the name of a FIFO, device
// or symlink just created holds something else by the time its metadata
// is set — a symlink to a file outside, or a hard link to one — nothing is
// set and the error says so.
func TestSetMetaRefusesSwapped(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	writeFile(t, target, "secret", 0o600)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	d, err := openDestDir(out, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	os.Symlink(target, filepath.Join(out, "fifo-now-symlink"))
	if err := os.Link(target, filepath.Join(out, "fifo-now-hardlink")); err != nil {
		t.Fatal(err)
	}
	unix.Mkfifo(filepath.Join(out, "real-fifo"), 0o644)
	m := meta{perm: 0o777 | fs.ModeSetuid, chmod: true, times: true, mtime: time.Unix(1, 0).UnixNano()}
	for _, name := range []string{"fifo-now-symlink", "fifo-now-hardlink"} {
		if err := d.setMeta(name, fs.ModeNamedPipe, m); !errors.Is(err, errReplaced) {
			t.Errorf("%s: %v, want errReplaced", name, err)
		}
	}
	if fi, _ := os.Stat(target); fi.Mode() != 0o600 || fi.ModTime().Unix() == 1 {
		t.Errorf("target changed: %v %v", fi.Mode(), fi.ModTime())
	}
	if err := d.setMeta("real-fifo", fs.ModeNamedPipe, m); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Lstat(filepath.Join(out, "real-fifo"), &st)
	if st.Mode&0o7777 != 0o4777 || st.Mtim.Sec != 1 {
		t.Errorf("real-fifo: mode %o mtime %d", st.Mode&0o7777, st.Mtim.Sec)
	}
}

// TestDestinationSymlinks (review S6): DIR itself is reached one
// component at a time without following symlinks, except those of the
// caller's own or root's. A symlink another user planted where DIR is
// to be — "/tmp/out -> /etc" for root's `-C /tmp/out` — or anywhere on
// the way to it is refused (also by a dry run), and nothing is written
// where it points; the caller's own symlinks are followed; missing
// components are created.
func TestDestinationSymlinks(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "f.txt"), "f", 0o644)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			base := t.TempDir()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(os.Chmod(base, 0o1777)) // as /tmp
			outside := filepath.Join(base, "outside")
			must(os.Mkdir(outside, 0o755))

			// The caller's own symlink is followed, relative or not.
			must(os.Symlink("outside", filepath.Join(base, "mine")))
			if res, evs := extractTo(t, img, filepath.Join(base, "mine", "new", "deeper"), Options{portable: w.portable}); res.Failed != 0 {
				t.Fatalf("through the caller's own symlink: %q", failures(evs))
			}
			if got := readFile(filepath.Join(outside, "new", "deeper", "f.txt")); got != "f" {
				t.Errorf("through the caller's own symlink: f.txt %q", got)
			}
			must(os.RemoveAll(filepath.Join(outside, "new")))

			if os.Geteuid() != 0 {
				t.Skip("the rest needs root: a symlink owned by another user (lchown)")
			}
			for _, c := range []struct{ name, dir string }{
				{"last", "planted"},
				{"middle", "planted/sub"},
				{"hardlinked", "twonames"},
			} {
				t.Run(c.name, func(t *testing.T) {
					planted := filepath.Join(base, "planted")
					os.Remove(planted)
					must(os.Symlink(outside, planted))
					must(os.Lchown(planted, 4242, 4242))
					// A second name of the caller's own symlink: its
					// owner says nothing about who put this name here.
					own := filepath.Join(t.TempDir(), "own")
					must(os.Symlink(outside, own))
					os.Remove(filepath.Join(base, "twonames"))
					must(os.Link(own, filepath.Join(base, "twonames")))
					for _, dry := range []bool{false, true} {
						_, err := Run(context.Background(), img, filepath.Join(base, c.dir), Options{portable: w.portable, DryRun: dry})
						if !errors.Is(err, ErrDestination) || !errors.Is(err, errUntrustedLink) {
							t.Errorf("dry run %v: %v, want ErrDestination and errUntrustedLink", dry, err)
						}
					}
					emptyDir(t, outside)
				})
			}
		})
	}
}

// TestMergedDirectoriesLeftAlone (review W6): a directory that exists in
// DIR is merged into and keeps its own mode and owner under every policy
// (GNU tar's --no-overwrite-dir; its mtime is that of the entries added),
// while the directories Run makes get the image's. As root, entries made in a set-group-id directory get
// the image's owner, not the directory's group with the image's mode
// (the chown used to be skipped when the image's ids were the process's).
func TestMergedDirectoriesLeftAlone(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "etc", "f"), "f", 0o644)
	writeFile(t, filepath.Join(src, "new", "g"), "g", 0o644)
	writeFile(t, filepath.Join(src, "sg", "h"), "h", 0o660)
	writeFile(t, filepath.Join(src, "sg", "sub", "i"), "i", 0o644)
	for _, d := range []string{"etc", "new", "sg/sub"} {
		os.Chmod(filepath.Join(src, d), 0o777)
	}
	root := os.Geteuid() == 0
	if root {
		for _, p := range []string{"etc", "etc/f", "new"} {
			os.Lchown(filepath.Join(src, p), 1234, 1234)
		}
	}
	img := openISO(t, mkISO(t, src), "")
	ids := func(p string) (uint32, uint32, fs.FileMode) {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid, st.Gid, fs.FileMode(st.Mode & 0o7777)
	}
	for _, w := range writers {
		for _, pol := range []Overwrite{Refuse, Replace} {
			t.Run(fmt.Sprint(w.name, "/", pol), func(t *testing.T) {
				out := t.TempDir()
				etc := filepath.Join(out, "etc")
				os.Mkdir(etc, 0o750)
				os.Chmod(etc, 0o750)
				sg := filepath.Join(out, "sg")
				os.Mkdir(sg, 0o775)
				if root {
					os.Chown(etc, 4242, 4242)
					os.Chown(sg, 0, 4343)
				}
				os.Chmod(sg, 0o775|fs.ModeSetgid)
				res, evs := extractTo(t, img, out, Options{portable: w.portable, Overwrite: pol, Metadata: DefaultMetadata()})
				if res.Failed != 0 {
					t.Fatalf("%q", failures(evs))
				}
				if readFile(filepath.Join(etc, "f")) != "f" || readFile(filepath.Join(out, "sg", "sub", "i")) != "i" {
					t.Fatal("not merged into")
				}
				uid, gid, mode := ids(etc)
				if mode != 0o750 {
					t.Errorf("merged etc: mode %o, want 0750 as it was", mode)
				}
				if _, _, mode := ids(filepath.Join(out, "new")); mode != 0o777 {
					t.Errorf("new (made by Run): mode %o, want the image's 0777", mode)
				}
				if !root {
					return
				}
				if uid != 4242 || gid != 4242 {
					t.Errorf("merged etc: owner %d:%d, want 4242:4242 as it was", uid, gid)
				}
				if uid, gid, _ := ids(filepath.Join(out, "new")); uid != 1234 || gid != 1234 {
					t.Errorf("new: owner %d:%d, want the image's 1234:1234", uid, gid)
				}
				if uid, gid, _ := ids(filepath.Join(etc, "f")); uid != 1234 || gid != 1234 {
					t.Errorf("etc/f: owner %d:%d, want the image's 1234:1234", uid, gid)
				}
				for _, p := range []string{"sg/h", "sg/sub"} {
					if uid, gid, mode := ids(filepath.Join(out, p)); uid != 0 || gid != 0 {
						t.Errorf("%s (in a set-group-id directory): owner %d:%d mode %o, want the image's 0:0", p, uid, gid, mode)
					}
				}
				if uid, gid, mode := ids(sg); uid != 0 || gid != 4343 || mode != 0o2775 {
					t.Errorf("merged sg: %d:%d %o, want 0:4343 2775 as it was", uid, gid, mode)
				}
			})
		}
	}
}

// TestStaleTempFiles (review U7): the temporary files a killed
// Replace run leaves (.isofsd-<16 hex>.tmp) are removed by the next run
// into the same DIR — in DIR and in every directory merged into, each
// noted as a Warning — and nothing else is: not a name of another
// pattern, a symlink, a FIFO, a directory, a file with a second name, a
// file another live run holds locked, or (as root) another user's file.
func TestStaleTempFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "d", "f"), "f", 0o644)
	img := openISO(t, mkISO(t, src), "")
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			out := t.TempDir()
			outside := filepath.Join(t.TempDir(), "outside")
			writeFile(t, outside, "outside", 0o644)
			stale := []string{".isofsd-0123456789abcdef.tmp", "d/.isofsd-00000000000000ff.tmp"}
			for _, p := range stale {
				writeFile(t, filepath.Join(out, p), "partial", 0o644)
			}
			keep := map[string]func(string) error{
				".isofsd-0123.tmp":               func(p string) error { return os.WriteFile(p, nil, 0o644) },
				".isofsd-0123456789ABCDEF.tmp":   func(p string) error { return os.WriteFile(p, nil, 0o644) },
				"d/.isofsd-fedcba9876543210.tmp": func(p string) error { return os.Symlink(outside, p) },
				"d/.isofsd-1111111111111111.tmp": func(p string) error { return unix.Mkfifo(p, 0o644) },
				"d/.isofsd-2222222222222222.tmp": func(p string) error { return os.Mkdir(p, 0o755) },
				"d/.isofsd-3333333333333333.tmp": func(p string) error { return os.Link(outside, p) },
				"d/.isofsd-4444444444444444.tmp": func(p string) error {
					// A run still writing it holds its lock.
					f, err := os.Create(p)
					if err == nil {
						t.Cleanup(func() { f.Close() })
						err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
					}
					return err
				},
			}
			if os.Geteuid() == 0 {
				keep["d/.isofsd-5555555555555555.tmp"] = func(p string) error {
					if err := os.WriteFile(p, nil, 0o644); err != nil {
						return err
					}
					return os.Chown(p, 4242, 4242)
				}
			}
			for p, mk := range keep {
				if err := mk(filepath.Join(out, p)); err != nil {
					t.Fatal(err)
				}
			}
			res, evs := extractTo(t, img, out, Options{portable: w.portable})
			if res.Failed != 0 {
				t.Fatalf("%q", failures(evs))
			}
			for _, p := range stale {
				if _, err := os.Lstat(filepath.Join(out, p)); err == nil {
					t.Errorf("%s: left", p)
				}
			}
			for p := range keep {
				if _, err := os.Lstat(filepath.Join(out, p)); err != nil {
					t.Errorf("%s: removed (%v)", p, err)
				}
			}
			if readFile(outside) != "outside" {
				t.Error("the symlink's target changed")
			}
			var warned []string
			for _, e := range evs {
				if e.Kind == Warning {
					warned = append(warned, e.Path)
				}
			}
			slices.Sort(warned)
			if !slices.Equal(warned, []string{".isofsd-0123456789abcdef.tmp", "d/.isofsd-00000000000000ff.tmp"}) {
				t.Errorf("warnings for %q", warned)
			}
		})
	}
}

// TestSparseOutput (review W9): runs of zeros are left as holes, not
// written, so that a zisofs image of zeros (448 KiB holding 256 MiB)
// does not extract to 256 MiB of disk: for a plain and a zisofs-
// compressed image, a file copied in ranges by several workers and by
// one, a file ending in zeros, and a UDF file with unrecorded (sparse)
// extents, the content is the source's byte for byte, the size is
// right, and the blocks taken are about those of the data.
func TestSparseOutput(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, 100<<10)
	randomFill(9, data)
	type piece struct {
		off int64
		b   []byte
	}
	files := map[string]struct {
		size   int64
		pieces []piece
	}{
		// Big enough to be copied in ranges by several workers.
		"zeros.bin": {bigFileSize + 5<<20 + 77, []piece{{0, data}, {40<<20 + 123, data[:5000]}, {bigFileSize + 5<<20 + 70, data[:7]}}},
		// The end is zeros: nothing written there, the size still right.
		"tail.bin": {9 << 20, []piece{{0, data}}},
	}
	os.MkdirAll(src, 0o755)
	for name, f := range files {
		fh, err := os.Create(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.pieces {
			fh.WriteAt(p.b, p.off)
		}
		fh.Truncate(f.size)
		fh.Close()
	}
	isotest.RequireTool(t, "xorriso")
	plain := mkISO(t, src)
	zisofs := filepath.Join(t.TempDir(), "z.iso")
	isotest.Run(t, "xorriso", "-outdev", zisofs, "-zisofs", "level=6", "-map", src, "/", "-set_filter_r", "--zisofs", "/", "--")
	blocks := func(p string) int64 {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	for _, w := range writers {
		for _, c := range []struct{ name, iso string }{{"plain", plain}, {"zisofs", zisofs}} {
			img := openISO(t, c.iso, "")
			if c.name == "zisofs" {
				if fi, _ := img.Stat("zeros.bin"); fi.Sys().(*isofmt.Stat).Zisofs == nil {
					t.Fatal("zeros.bin is not zisofs-compressed in the image")
				}
			}
			for _, jobs := range []int{4, 1} {
				t.Run(fmt.Sprint(w.name, "/", c.name, "/j", jobs), func(t *testing.T) {
					out := t.TempDir()
					res, evs := extractTo(t, img, out, Options{portable: w.portable, Workers: jobs})
					if res.Failed != 0 {
						t.Fatalf("%q", failures(evs))
					}
					for name, f := range files {
						p := filepath.Join(out, name)
						got, err := os.ReadFile(p)
						want, _ := os.ReadFile(filepath.Join(src, name))
						if err != nil || int64(len(got)) != f.size || !bytes.Equal(got, want) {
							t.Errorf("%s: %d bytes, want %d, or content differs (%v)", name, len(got), f.size, err)
						}
						if b := blocks(p); b > 1<<20 {
							t.Errorf("%s: takes %d bytes on disk for %d of data: the zeros were written", name, b, len(data)+5000+7)
						}
					}
				})
			}
		}
	}
	// UDF: the file's zeros are not recorded in the image at all.
	const size = 256 << 20
	es := []udfbuild.Entry{{Path: "disk.img", Size: size, Chunks: []udfbuild.Chunk{{Off: 0, Data: data[:4096]}, {Off: 200 << 20, Data: data[:2048]}}, Perm: 0o644, MTime: isotest.Stamp}}
	b, err := udfbuild.Build(udfbuild.Options{Revision: 0x0201}, es)
	if err != nil {
		t.Fatal(err)
	}
	udf := filepath.Join(t.TempDir(), "udf.iso")
	if err := os.WriteFile(udf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img := openISO(t, udf, "")
	for _, w := range writers {
		t.Run(w.name+"/udf", func(t *testing.T) {
			out := t.TempDir()
			res, evs := extractTo(t, img, out, Options{portable: w.portable})
			if res.Failed != 0 || res.Bytes != size {
				t.Fatalf("%+v %q", res, failures(evs))
			}
			p := filepath.Join(out, "disk.img")
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if fi, _ := f.Stat(); fi.Size() != size {
				t.Errorf("size %d, want %d", fi.Size(), size)
			}
			for _, c := range []struct {
				off  int64
				want []byte
			}{{0, data[:4096]}, {4096, make([]byte, 4096)}, {200 << 20, data[:2048]}, {200<<20 + 2048, make([]byte, 100)}, {size - 100, make([]byte, 100)}} {
				got := make([]byte, len(c.want))
				if _, err := f.ReadAt(got, c.off); err != nil || !bytes.Equal(got, c.want) {
					t.Errorf("at %d: not the image's bytes (%v)", c.off, err)
				}
			}
			if b := blocks(p); b > 1<<20 {
				t.Errorf("disk.img takes %d bytes on disk for 6 KiB of data", b)
			}
		})
	}
}
