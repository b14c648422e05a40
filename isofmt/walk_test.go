package isofmt_test

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestCheckName (moved here from cmd/isofsd with the check itself).
func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"a b", true}, {"..a", true}, {"a..", true}, {"ünï", true}, {"...", true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"/", false}, {"/etc", false}, {"a\x00b", false},
	} {
		if err := isofmt.CheckName(c.name); (err == nil) != c.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// fakeTree is a DirReader over hand-made nodes, so that the walk's own
// guards can be tested on trees the parser would never hand out.
type fakeTree map[*isofmt.Node][]*isofmt.Node

func (f fakeTree) ReadDirNode(d *isofmt.Node) ([]*isofmt.Node, error) {
	if d.Err != nil {
		return nil, d.Err
	}
	return f[d], nil
}

func dirNode(name string, at int64) *isofmt.Node {
	n := &isofmt.Node{Name: name}
	n.Stat.Mode = fs.ModeDir | 0o755
	n.Stat.Extents = []isofmt.Extent{{Offset: at, Length: 2048}}
	n.Stat.Inode = uint64(at)
	return n
}

func fileNode(name string) *isofmt.Node { return &isofmt.Node{Name: name} }

// walkFake walks everything and records the directories visited and the
// refusals.
func walkFake(t *testing.T, r isofmt.DirReader, root *isofmt.Node) (visited []string, refused map[string]error) {
	t.Helper()
	refused = map[string]error{}
	err := isofmt.Walk(r, ".", root, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			visited = append(visited, fmt.Sprintf("%s@%d", d.Path, d.Depth))
			return d.Entries, nil
		},
		Refused: func(p string, _ *isofmt.Node, err error) { refused[p] = err },
	})
	if err != nil {
		t.Fatal(err)
	}
	return visited, refused
}

// TestWalkGuards: one directory's data reached under two names (or the
// start reached again) is entered once; names that are no path element
// are not entered; each is told to Refused with its reason, and the rest
// is walked.
func TestWalkGuards(t *testing.T) {
	root := dirNode("", 100*2048)
	a, b := dirNode("a", 101*2048), dirNode("b", 102*2048)
	alias := dirNode("alias-of-a", 101*2048)
	up := dirNode("up", 100*2048)
	dots := dirNode("..", 103*2048)
	slash := dirNode("x/y", 104*2048)
	inner := dirNode("inner", 105*2048)
	tree := fakeTree{
		root:  {fileNode("f"), a, b, dots, slash},
		a:     {inner, up},
		b:     {alias},
		inner: {fileNode("g")},
	}
	visited, refused := walkFake(t, tree, root)
	want := []string{".@0", "a@1", "a/inner@2", "b@1"}
	if !slices.Equal(visited, want) {
		t.Errorf("visited %q, want %q", visited, want)
	}
	for p, wantErr := range map[string]error{
		"a/up": isofmt.ErrWalkLoop, "b/alias-of-a": isofmt.ErrWalkLoop, "..": isofmt.ErrWalkName, "x/y": isofmt.ErrWalkName,
	} {
		if !errors.Is(refused[p], wantErr) {
			t.Errorf("%s: refused with %v, want %v", p, refused[p], wantErr)
		}
	}
	if len(refused) != 4 {
		t.Errorf("refused %v, want 4 entries", refused)
	}
}

// TestWalkDepth: an endless chain of distinct directories stops at
// MaxDepth levels below the start.
func TestWalkDepth(t *testing.T) {
	r := chainTree{}
	var deepest int
	var refusedAt string
	err := isofmt.Walk(r, ".", dirNode("", 1), isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			deepest = max(deepest, d.Depth)
			return d.Entries, nil
		},
		Refused: func(p string, _ *isofmt.Node, err error) {
			if !errors.Is(err, isofmt.ErrWalkDepth) {
				t.Errorf("%s: %v", p, err)
			}
			refusedAt = p
		},
	})
	if err != nil || deepest != isofmt.MaxDepth || refusedAt == "" {
		t.Errorf("deepest %d, refused at %d bytes of path, err %v; want depth %d", deepest, len(refusedAt), err, isofmt.MaxDepth)
	}
}

// chainTree gives every directory one subdirectory.
type chainTree struct{}

func (chainTree) ReadDirNode(d *isofmt.Node) ([]*isofmt.Node, error) {
	return []*isofmt.Node{dirNode("d", d.Stat.Extents[0].Offset+2048)}, nil
}

// TestWalkHostileImages walks the parser's hostile cycles: the walk ends,
// and the damage is reported (as a read error or a refusal).
func TestWalkHostileImages(t *testing.T) {
	b := isotest.NewBuilder(2048)
	root, a := b.Alloc(1), b.Alloc(2)
	var recs []isotest.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, isotest.Record{Name: fmt.Sprintf("D%02d", i), LBA: a, Size: 4096, Dir: true})
	}
	b.WriteDir(a, root, 2048, recs, nil)
	b.WriteDir(root, root, 2048, recs, nil)
	img := openBytes(t, b.Image(root, 2048, 0), "")
	start, err := img.Root()
	if err != nil {
		t.Fatal(err)
	}
	dirs, problems := 0, 0
	err = isofmt.Walk(img, ".", start, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			dirs++
			if d.Err != nil {
				problems++
			}
			return d.Entries, nil
		},
		Refused: func(string, *isofmt.Node, error) { problems++ },
	})
	if err != nil || dirs > 2 || problems == 0 {
		t.Errorf("fan-out image: %d directories visited, %d problems, %v", dirs, problems, err)
	}
}
