//go:build linux

package gofuse

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// plMount mounts an image of ten directories d00..d09, each holding six
// subdirectories s0..s5 with one file, with or without read-ahead, and
// returns the mountpoint, the server's raw file system, the image and the
// source tree's paths.
func plMount(t *testing.T, readAhead bool) (string, *raw, *isofmt.Image, []string) {
	t.Helper()
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	for i := range 10 {
		for j := range 6 {
			p := filepath.Join(src, fmt.Sprintf("d%02d", i), fmt.Sprintf("s%d", j))
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "f"), []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	iso := filepath.Join(d, "t.iso")
	isotest.Run(t, "xorriso", "-outdev", iso, "-map", src, "/", "-commit")
	mp, r, img := mountImage(t, iso, readAhead)
	return mp, r, img, walk(t, src)
}

// walk lists every path under root, sorted.
func walk(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// preloadIdle waits until the listing read-ahead has nothing queued or in
// hand.
func preloadIdle(t *testing.T, r *raw) {
	t.Helper()
	waitZero(t, "listing read-ahead", &r.pl.pending)
}

// TestListingPreload: listing a directory parses the first plDirs of its
// subdirectories and the next plDirs directories after it in its parent
// ahead of time, and the listings that follow use those parses.
func TestListingPreload(t *testing.T) {
	mp, r, img, _ := plMount(t, true)
	readNames(t, mp) // (opening the image may have parsed the root)
	preloadIdle(t, r)
	// The root and d00..d03.
	if n := img.DirsParsed(); n != 1+plDirs {
		t.Fatalf("after listing the root: %d directories parsed, want %d", n, 1+plDirs)
	}
	readNames(t, filepath.Join(mp, "d00"))
	preloadIdle(t, r)
	// d00 was parsed ahead; its s0..s3 and its next siblings d01..d04
	// are queued, of which d01..d03 are parsed already.
	want := int64(1 + plDirs + plDirs + 1)
	if n := img.DirsParsed(); n != want {
		t.Fatalf("after listing d00: %d directories parsed, want %d", n, want)
	}
	// Listing what was parsed ahead parses nothing.
	for _, d := range []string{"d00/s0", "d00/s3", "d01", "d04"} {
		readNames(t, filepath.Join(mp, d))
	}
	preloadIdle(t, r)
	if n := img.DirsParsed(); n < want || r.pl.queued.Load() == 0 {
		t.Fatalf("%d directories parsed (%d queued)", n, r.pl.queued.Load())
	}
}

// TestListingPreloadOff: without read-ahead only the directories listed
// are parsed.
func TestListingPreloadOff(t *testing.T) {
	mp, _, img, _ := plMount(t, false)
	readNames(t, mp)
	readNames(t, filepath.Join(mp, "d00"))
	time.Sleep(50 * time.Millisecond)
	if n := img.DirsParsed(); n != 2 {
		t.Fatalf("%d directories parsed after listing two, want 2", n)
	}
}

// TestListingPreloadWalks: walkers racing the read-ahead through the tree
// (forwards and backwards) each see the whole tree, and every directory is
// parsed once.
func TestListingPreloadWalks(t *testing.T) {
	mp, r, img, want := plMount(t, true)
	var wg sync.WaitGroup
	got := make([][]string, 4)
	for i := range got {
		wg.Go(func() {
			if i%2 == 0 {
				got[i] = walk(t, mp)
				return
			}
			// Backwards: the deepest, last directories first.
			var out []string
			for d := 9; d >= 0; d-- {
				for s := 5; s >= 0; s-- {
					p := filepath.Join(fmt.Sprintf("d%02d", d), fmt.Sprintf("s%d", s))
					if names := readNames(t, filepath.Join(mp, p)); !slices.Equal(names, []string{"f"}) {
						t.Errorf("%s lists %q", p, names)
					}
					out = append(out, p, filepath.Join(p, "f"))
				}
				out = append(out, fmt.Sprintf("d%02d", d))
			}
			got[i] = append(out, ".")
			slices.Sort(got[i])
		})
	}
	wg.Wait()
	for i, g := range got {
		if !slices.Equal(g, want) {
			t.Errorf("walker %d saw %d paths, want %d", i, len(g), len(want))
		}
	}
	preloadIdle(t, r)
	if n := img.DirsParsed(); n != 71 {
		t.Errorf("%d directory parses for 71 directories", n)
	}
}

// TestPreloadPicks: a listing queues its first plDirs subdirectories and
// the plDirs directories after it in its parent, skipping files and
// directories bigger than plMaxDir.
func TestPreloadPicks(t *testing.T) {
	node := func(name string, dir bool, size int64) *isofmt.Node {
		n := &isofmt.Node{Name: name, Stat: isofmt.Stat{Size: size, Mode: 0o444}}
		if dir {
			n.Stat.Mode = fs.ModeDir | 0o555
		}
		return n
	}
	kids := []*isofmt.Node{node("f", false, 10), node("a", true, 2048), node("huge", true, plMaxDir+2048),
		node("b", true, 2048), node("g", false, 10), node("c", true, 2048), node("d", true, 4096), node("e", true, 2048)}
	siblings := []*isofmt.Node{node("s0", true, 2048), node("me", true, 2048), node("s2", true, 2048),
		node("x", false, 1), node("s3", true, 2048)}
	r := &raw{}
	p := newDirPreload(r)
	parent := &known{n: node("parent", true, 2048)}
	parent.aux.Store(&knownAux{list: siblings})
	me := &known{n: siblings[1], parent: parent, idx: 1}
	p.noteList(me, kids)
	var got []string
	for len(p.jobs) > 0 {
		got = append(got, (<-p.jobs).Name)
	}
	if want := []string{"a", "b", "c", "d", "s2", "s3"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
	if p.pending.Load() != 6 || p.queued.Load() != 6 {
		t.Fatalf("pending %d queued %d, want 6 and 6", p.pending.Load(), p.queued.Load())
	}
	// A full queue drops the rest rather than blocking the request.
	for range plQueue {
		p.jobs <- kids[1]
	}
	done := make(chan struct{})
	go func() { p.noteList(me, kids); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("noteList blocked on a full queue")
	}
}
