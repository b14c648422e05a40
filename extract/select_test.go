package extract

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// selects runs the selector over one path the way the walk does and says
// whether the entry at its end is selected (and not excluded), and
// whether the walk would have gone that far.
func selects(s *selector, p string, dirs bool) (selected, reached bool) {
	st := s.start()
	elems := strings.Split(p, "/")
	for i, name := range elems {
		excluded, sel, kid := s.step(st, name)
		if excluded {
			return false, true
		}
		if i == len(elems)-1 {
			return sel, true
		}
		if !sel && !kid.alive() {
			return false, false
		}
		st = kid
	}
	return false, false
}

func TestSelector(t *testing.T) {
	cases := []struct {
		include, exclude []string
		path             string
		want             bool
	}{
		{nil, nil, "a/b/c", true},
		{[]string{"a"}, nil, "a/b/c", true},
		{[]string{"/a/"}, nil, "a/b", true},
		{[]string{"a/*.txt"}, nil, "a/x.txt", true},
		{[]string{"a/*.txt"}, nil, "a/b/x.txt", false},
		{[]string{"*.txt"}, nil, "a/x.txt", false},
		// "**" matches any number of elements, none included.
		{[]string{"**/x.txt"}, nil, "x.txt", true},
		{[]string{"**/x.txt"}, nil, "a/b/c/x.txt", true},
		{[]string{"a/**/x.txt"}, nil, "a/x.txt", true},
		{[]string{"a/**/x.txt"}, nil, "a/b/x.txt", true},
		{[]string{"a/**/x.txt"}, nil, "b/a/x.txt", false},
		{[]string{"a/**"}, nil, "a", true},
		{[]string{"a/**"}, nil, "a/b/c", true},
		{[]string{"**/*.c32"}, nil, "isolinux/menu.c32", true},
		{[]string{"**/*.c32"}, nil, "isolinux/menu.cfg", false},
		{[]string{"**/b/**/d"}, nil, "a/b/c/d", true},
		{[]string{"**/b/**/d"}, nil, "a/c/d", false},
		// Excludes: without "/" a name at any depth; with "/" anchored.
		{nil, []string{"*.bak"}, "a/b/x.bak", false},
		{nil, []string{"*.bak"}, "a/b/x.txt", true},
		{nil, []string{"b"}, "a/b/c", false},
		{nil, []string{"a/b"}, "a/b/c", false},
		{nil, []string{"a/b"}, "x/a/b", true},
		{nil, []string{"**/tmp"}, "x/y/tmp/z", false},
		{[]string{"a"}, []string{"a/secret"}, "a/secret/k", false},
		{[]string{"a"}, []string{"a/secret"}, "a/public/k", true},
	}
	for _, c := range cases {
		s, err := newSelector(c.include, c.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := selects(s, c.path, true); got != c.want {
			t.Errorf("include %q exclude %q: %s selected=%v, want %v", c.include, c.exclude, c.path, got, c.want)
		}
	}
	if _, err := newSelector([]string{"a/[x"}, nil); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("bad pattern: %v", err)
	}
	if _, err := newSelector(nil, []string{"[x"}); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("bad exclude: %v", err)
	}
}

// TestSelectorPrunes: directories that cannot lead to a match are not
// walked into.
func TestSelectorPrunes(t *testing.T) {
	s, _ := newSelector([]string{"a/b/*.txt"}, nil)
	if _, reached := selects(s, "c/d/e", true); reached {
		t.Error("walked into c/ although no pattern can match below it")
	}
	if _, reached := selects(s, "a/b/x.txt", true); !reached {
		t.Error("did not reach a/b/x.txt")
	}
}

func TestRenamed(t *testing.T) {
	for in, want := range map[string]string{"a.txt": "a_1.txt", "archive.tar.gz": "archive.tar_1.gz", ".bashrc": ".bashrc_1", "noext": "noext_1", "dir.": "dir_1."} {
		if got := renamed(in, 1); got != want {
			t.Errorf("renamed(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSubtract(t *testing.T) {
	got := Subtract([]Range{{0, 100}}, []Range{{10, 10}, {50, 60}, {0, 5}})
	want := []Range{{5, 5}, {20, 30}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Subtract = %v, want %v", got, want)
	}
	if got := clip([]Range{{90, 20}, {-5, 10}, {3, 4}}, 100); len(got) != 2 || got[0] != (Range{0, 7}) || got[1] != (Range{90, 10}) {
		t.Errorf("clip = %v", got)
	}
}

// FuzzSelect matches image paths (untrusted names) against patterns: no
// panic, no endless "**" expansion, and for patterns without "**" or
// classes the same verdict as path.Match on the path or one of its
// leading directories (a selected directory selects what is below).
func FuzzSelect(f *testing.F) {
	for _, c := range [][2]string{{"a/*/c", "a/b/c"}, {"**/x", "a/b/x"}, {"a/**/b/**", "a/x/b/y/z"}, {"[a-", "a"},
		{"*.txt", "x.txt"}, {"/boot/", "boot/grub/grub.cfg"}, {"**", "a"}, {"a/**/**/**/b", "a/c/d/e/b"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pat, p string) {
		s, err := newSelector([]string{pat}, []string{pat})
		if err != nil {
			return
		}
		p = CleanPath(p)
		elems := strings.Split(p, "/")
		for _, e := range elems {
			if hostName(e) != nil {
				return
			}
		}
		// As an exclude the pattern must leave out what it selects.
		if sel, _ := selects(s, p, true); sel {
			t.Errorf("%q: selected although excluded", p)
		}
		s, _ = newSelector([]string{pat}, nil)
		got, _ := selects(s, p, true)
		cp := CleanPath(pat)
		if strings.Contains(cp, "**") || strings.Contains(cp, "[") {
			return
		}
		want := cp == "."
		for i := 1; i <= len(elems) && !want; i++ {
			want, _ = path.Match(cp, strings.Join(elems[:i], "/"))
		}
		if got != want {
			t.Errorf("pattern %q, path %q: selected=%v, path.Match says %v", pat, p, got, want)
		}
	})
}

// TestLiteralPattern: a path turned into a pattern by LiteralPattern
// (what cat does with its PATHs) matches that path only, and is known
// as a literal: Stream resolves it through symlinks.
func TestLiteralPattern(t *testing.T) {
	for _, p := range []string{"a.txt", "[BOOT]/boot-1-bios.img", `we*rd?\name[1]`, "dir/sub/x"} {
		pt, err := compile(LiteralPattern(p), false)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if pt.literal != p {
			t.Errorf("%q: literal %q", p, pt.literal)
		}
		s := &selector{include: []*pattern{pt}}
		if sel, _ := selects(s, p, true); !sel {
			t.Errorf("%q: does not select itself", p)
		}
		if sel, _ := selects(s, strings.ReplaceAll(p, "[", "B"), true); sel && strings.Contains(p, "[") {
			t.Errorf("%q: selects another path", p)
		}
	}
	for _, g := range []string{"*.txt", "a/**", "x[12]"} {
		if pt, _ := compile(g, false); pt.literal != "" {
			t.Errorf("%q taken for a literal path", g)
		}
	}
}
