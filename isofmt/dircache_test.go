package isofmt

import (
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingTree is a core.Tree of directories of a fixed size that counts
// its parses and makes each take a while, so that callers overlap.
type countingTree struct {
	parses  atomic.Int64
	entries int
	delay   time.Duration
}

func (t *countingTree) Kind() string { return "test" }

func (t *countingTree) Root() (*Node, error) { return t.dir(1), nil }

func (t *countingTree) dir(ino uint64) *Node {
	return &Node{Name: fmt.Sprint(ino), Stat: Stat{Inode: ino, Mode: fs.ModeDir | 0o555}}
}

func (t *countingTree) ReadDir(dir *Node) ([]*Node, error) {
	t.parses.Add(1)
	time.Sleep(t.delay)
	out := make([]*Node, t.entries)
	for i := range out {
		out[i] = &Node{Name: fmt.Sprintf("f%d", i), Stat: Stat{Inode: dir.Stat.Inode<<20 | uint64(i+1), Mode: 0o444}}
	}
	return out, nil
}

// TestListingParsedOnce: callers asking for one directory at the same
// time share one parse and get the same nodes.
func TestListingParsedOnce(t *testing.T) {
	tree := &countingTree{entries: 50, delay: 20 * time.Millisecond}
	img := &Image{tree: tree, dirs: newDirCache()}
	dir := tree.dir(7)
	const callers = 16
	got := make([][]*Node, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			nodes, err := img.ReadDirNode(dir)
			if err != nil {
				t.Error(err)
			}
			got[i] = nodes
		})
	}
	wg.Wait()
	if n := tree.parses.Load(); n != 1 || img.DirsParsed() != 1 {
		t.Fatalf("%d concurrent callers caused %d parses (DirsParsed %d), want 1", callers, n, img.DirsParsed())
	}
	for i := 1; i < callers; i++ {
		if len(got[i]) != 50 || &got[i][0] != &got[0][0] {
			t.Fatalf("caller %d got a different listing (%d entries)", i, len(got[i]))
		}
	}
	if _, err := img.Lookup(dir, "f49"); err != nil {
		t.Fatalf("lookup in the shared listing: %v", err)
	}
}

// TestDirCacheBound: parsed entries beyond dirCacheEntries push out the
// least recently used directories, which are parsed again when asked for.
func TestDirCacheBound(t *testing.T) {
	per := dirCacheEntries / 8
	tree := &countingTree{entries: per}
	img := &Image{tree: tree, dirs: newDirCache()}
	for ino := uint64(10); ino < 30; ino++ {
		if _, err := img.ReadDirNode(tree.dir(ino)); err != nil {
			t.Fatal(err)
		}
	}
	c := img.dirs
	if c.entries > dirCacheEntries {
		t.Fatalf("cache holds %d entries, bound %d", c.entries, dirCacheEntries)
	}
	if n := c.lru.Len(); n < 7 || n > 8 {
		t.Fatalf("cache holds %d directories of %d entries, want 7 or 8", n, per)
	}
	before := tree.parses.Load()
	img.ReadDirNode(tree.dir(29)) // most recent: cached
	if tree.parses.Load() != before {
		t.Fatal("the most recently listed directory was parsed again")
	}
	img.ReadDirNode(tree.dir(10)) // dropped long ago: parsed again
	if tree.parses.Load() != before+1 {
		t.Fatal("a directory dropped from the cache was not parsed again")
	}
}
