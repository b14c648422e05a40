//go:build linux

package gofuse

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// raTree writes the source of the read-ahead tests: two directories of
// small files (empty ones among them), a file too big to be stored
// among them, a subdirectory and a symlink, and returns each file's
// content by path.
func raTree(t *testing.T, src string) map[string][]byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(4, 2))
	want := map[string][]byte{}
	put := func(rel string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want[rel] = b
	}
	for i := range 300 {
		n := rnd.IntN(6000)
		if i%37 == 0 {
			n = 0
		}
		put(fmt.Sprintf("a/f%03d", i), n)
	}
	put("a/f150big", raMaxFile+5000)
	put("a/sub/inner", 100)
	for i := range 40 {
		put(fmt.Sprintf("b/g%02d", i), 1+rnd.IntN(3000))
	}
	if err := os.Symlink("f001", filepath.Join(src, "a", "link")); err != nil {
		t.Fatal(err)
	}
	return want
}

// raMount builds an image of raTree with xorriso (extra options added)
// and mounts it with or without read-ahead.
func raMount(t *testing.T, readAhead bool, xorrisoArgs ...string) (string, *raw, map[string][]byte) {
	t.Helper()
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	want := raTree(t, src)
	iso := filepath.Join(d, "t.iso")
	args := append([]string{"-outdev", iso, "-map", src, "/"}, xorrisoArgs...)
	isotest.Run(t, "xorriso", append(args, "-commit")...)
	mp, r, _ := mountImage(t, iso, readAhead)
	return mp, r, want
}

// mountImage opens the image iso and mounts it (with or without
// read-ahead) until the test ends; it returns the mountpoint, the
// server's raw file system and the image.
func mountImage(t *testing.T, iso string, readAhead bool) (string, *raw, *isofmt.Image) {
	t.Helper()
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	fsys, err := isofs.New(img, isofs.Options{ImagePath: iso})
	if err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, r, err := start(mp, fsys, Options{Source: iso, Splice: true, DirReadAhead: readAhead})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Wait()
	})
	return mp, r, img
}

// readNames lists dir in the order the kernel returns (as tar does).
func readNames(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// check reads rel under mp and compares it with want.
func check(t *testing.T, mp, rel string, want map[string][]byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(mp, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	if !bytes.Equal(got, want[rel]) {
		t.Fatalf("%s: read %d bytes that differ from the %d written", rel, len(got), len(want[rel]))
	}
}

// waitIdle waits until the read-ahead goroutine has no trigger queued
// or in hand, and returns the number of files it stored so far.
func waitIdle(t *testing.T, r *raw) int64 {
	t.Helper()
	waitZero(t, "read-ahead", &r.ra.pending)
	return r.ra.stored.Load()
}

// waitZero waits until the count of work pending of a read-ahead
// goroutine (what) is zero.
func waitZero(t *testing.T, what string, pending *atomic.Int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for pending.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still busy after 20 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// listed returns the files of dir (relative to mp) in the order the
// kernel lists them, as tar reads them.
func listed(t *testing.T, mp, dir string, want map[string][]byte) []string {
	t.Helper()
	var files []string
	for _, n := range readNames(t, filepath.Join(mp, dir)) {
		if _, ok := want[dir+"/"+n]; ok {
			files = append(files, dir+"/"+n)
		}
	}
	return files
}

// TestDirReadAhead reads the files of a directory in listing order, as
// tar does, one at a time after the read-ahead goroutine went idle: the
// first read stores the next raMinFiles entries, each read past a window
// doubles it, so 300 files cost a handful of READ requests, and every
// stored file holds the right bytes (the decompressed ones for zisofs).
func TestDirReadAhead(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"zisofs", []string{"-zisofs", "level=6", "-set_filter_r", "--zisofs", "/", "--"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, r, want := raMount(t, true, tc.args...)
			files := listed(t, mp, "a", want)
			if len(files) != 301 {
				t.Fatalf("listed %d files of a/, want 301", len(files))
			}
			var missed []string
			for _, f := range files {
				before := r.reads.Load()
				check(t, mp, f, want)
				if r.reads.Load() != before {
					missed = append(missed, f)
				}
				waitIdle(t, r)
			}
			stored := r.ra.stored.Load()
			t.Logf("301 files read in order: %d READ requests (%v), %d files stored", len(missed), missed, stored)
			// Windows of 16, 32, 64, 128 and 256 entries, and the file
			// too big to store.
			if len(missed) > 7 {
				t.Errorf("%d of 301 files read through the daemon, want at most 7", len(missed))
			}
			if stored < 280 {
				t.Errorf("%d files stored, want at least 280 of the 292 small non-empty ones", stored)
			}
			if !slices.Contains(missed, "a/f150big") {
				t.Errorf("a/f150big (%d bytes) did not come from the daemon", raMaxFile+5000)
			}
			check(t, mp, "a/sub/inner", want)
			if got, err := os.Readlink(filepath.Join(mp, "a", "link")); err != nil || got != "f001" {
				t.Errorf("readlink a/link = %q, %v", got, err)
			}
		})
	}
}

// TestDirReadAheadRandom reads one file in the middle of a directory:
// only the first window follows it, not the directory; a read in
// another directory starts a small window again.
func TestDirReadAheadRandom(t *testing.T) {
	mp, r, want := raMount(t, true)
	listed(t, mp, "a", want) // as ls or a file manager would
	listed(t, mp, "b", want)
	check(t, mp, "a/f200", want)
	got := waitIdle(t, r)
	if got == 0 || got > raMinFiles {
		t.Errorf("one read stored %d files, want 1 to %d", got, raMinFiles)
	}
	check(t, mp, "b/g20", want)
	if got2 := waitIdle(t, r) - got; got2 == 0 || got2 > raMinFiles {
		t.Errorf("a read elsewhere stored %d files, want 1 to %d", got2, raMinFiles)
	}
}

// TestDirReadAheadOff: without read-ahead every small file costs a READ.
func TestDirReadAheadOff(t *testing.T) {
	mp, r, want := raMount(t, false)
	if r.ra != nil {
		t.Fatal("read-ahead running though off")
	}
	files := listed(t, mp, "b", want)
	for _, f := range files {
		check(t, mp, f, want)
	}
	if reads := r.reads.Load(); reads < int64(len(files)) {
		t.Errorf("%d READ requests for %d files", reads, len(files))
	}
}

// TestDirReadAheadConcurrent races stores against reads: in each of
// three rounds 8 readers go through both directories at once in
// different orders (sequential, reversed, shuffled), and every byte must
// be right; between rounds the kernel's cache of every file is dropped,
// so that each round reads through the daemon and its stores again.
func TestDirReadAheadConcurrent(t *testing.T) {
	mp, r, want := raMount(t, true)
	listed(t, mp, "a", want)
	listed(t, mp, "b", want)
	var all []string
	for rel := range want {
		all = append(all, rel)
	}
	slices.Sort(all)
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				order := slices.Clone(all)
				switch g % 3 {
				case 1:
					slices.Reverse(order)
				case 2:
					rnd := rand.New(rand.NewPCG(uint64(g), uint64(round)))
					rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				}
				for _, rel := range order {
					got, err := os.ReadFile(filepath.Join(mp, rel))
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, want[rel]) {
						errs <- fmt.Errorf("round %d: %s: %d bytes differ from the %d written", round, rel, len(got), len(want[rel]))
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		r.mu.RLock()
		ids := slices.Collect(maps.Keys(r.nodes))
		r.mu.RUnlock()
		for _, id := range ids {
			r.ra.srv.InodeNotify(id, 0, 0) // drop its pages
		}
	}
	t.Logf("%d READ requests, %d files stored", r.reads.Load(), r.ra.stored.Load())
}

// TestReadAheadIdle: the read-ahead goroutines run only while they have
// work — a mount nobody reads holds none, and one whose read-ahead has
// finished holds none again (a daemon serves a thousand idle mounts).
func TestReadAheadIdle(t *testing.T) {
	mp, r, want := raMount(t, true)
	if r.ra.w.running.Load() || r.pl.w.running.Load() {
		t.Fatal("read-ahead goroutines running on a mount nothing has touched")
	}
	for _, f := range listed(t, mp, "a", want)[:20] {
		check(t, mp, f, want)
	}
	waitIdle(t, r)
	waitZero(t, "listing read-ahead", &r.pl.pending)
	deadline := time.Now().Add(5 * time.Second)
	for r.ra.w.running.Load() || r.pl.w.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("read-ahead goroutines still running with nothing to do")
		}
		time.Sleep(time.Millisecond)
	}
	if r.ra.stored.Load() == 0 {
		t.Error("the read-ahead stored nothing: it did not run at all")
	}
}
