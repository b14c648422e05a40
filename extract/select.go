package extract

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// pattern is one Include or Exclude pattern split into elements.
type pattern struct {
	raw   string
	elems []string
	// anywhere: an Exclude without "/" matches a name at any depth.
	anywhere bool
	// literal is the path an Include names when it holds no wildcard
	// (its escapes removed); "" for a glob.
	literal string
	hits    int
}

// CleanPath turns a user's image path ("/boot/", "./a", "") into the
// form patterns and fs.FS use: no leading or trailing "/", "." for the
// root.
func CleanPath(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func compile(raw string, exclude bool) (*pattern, error) {
	p := CleanPath(raw)
	for _, e := range strings.Split(p, "/") {
		if _, err := path.Match(e, ""); err != nil {
			return nil, fmt.Errorf("extract: pattern %q: %w", raw, err)
		}
	}
	pt := &pattern{raw: raw, elems: strings.Split(p, "/"), anywhere: exclude && !strings.Contains(strings.Trim(raw, "/"), "/")}
	if lit, ok := unescape(p); ok {
		pt.literal = lit
	}
	return pt, nil
}

// unescape returns the path a pattern names when it holds no wildcard
// ("*", "?", "[" not escaped by "\"), without its escapes.
func unescape(p string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*', '?', '[':
			return "", false
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// LiteralPattern turns a path into a pattern that matches that path
// only, whatever characters it holds (what cat takes).
func LiteralPattern(p string) string {
	var b strings.Builder
	for _, c := range p {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// selector decides which entries Run writes.
type selector struct {
	include, exclude []*pattern
}

func newSelector(include, exclude []string) (*selector, error) {
	s := &selector{}
	for _, raw := range include {
		p, err := compile(raw, false)
		if err != nil {
			return nil, err
		}
		if len(p.elems) == 1 && p.elems[0] == "." {
			// "/" or "." selects everything.
			s.include = nil
			break
		}
		s.include = append(s.include, p)
	}
	for _, raw := range exclude {
		p, err := compile(raw, true)
		if err != nil {
			return nil, err
		}
		if len(p.elems) == 1 && p.elems[0] == "." {
			// "/" or "." leaves out everything.
			p.elems, p.anywhere = []string{"**"}, false
		}
		s.exclude = append(s.exclude, p)
	}
	return s, nil
}

// selState is where the patterns stand at one directory: for each
// anchored pattern, the element positions reached so far (a set: "**"
// makes the match non-deterministic).
type selState struct {
	all bool // the directory is selected: so is everything below
	// named: the entry this is the state of was itself matched by an
	// Include that names one path (no wildcard).
	named bool
	inc   [][]int
	exc   [][]int
}

// start is the state at the root.
func (s *selector) start() selState {
	st := selState{all: len(s.include) == 0}
	if !st.all {
		st.inc = make([][]int, len(s.include))
		for i, p := range s.include {
			st.inc[i] = closure(p.elems, []int{0})
		}
	}
	st.exc = make([][]int, len(s.exclude))
	for i, p := range s.exclude {
		if !p.anywhere {
			st.exc[i] = closure(p.elems, []int{0})
		}
	}
	return st
}

// closure adds the positions reachable through "**" matching nothing.
func closure(elems []string, pos []int) []int {
	for i := 0; i < len(pos); i++ {
		if q := pos[i]; q < len(elems) && elems[q] == "**" && !slices.Contains(pos, q+1) {
			pos = append(pos, q+1)
		}
	}
	return pos
}

// advance matches one more path element.
func advance(elems []string, pos []int, name string) (next []int, full bool) {
	for _, q := range pos {
		if q >= len(elems) {
			continue
		}
		switch e := elems[q]; {
		case e == "**":
			if !slices.Contains(next, q) {
				next = append(next, q)
			}
		default:
			if matchElem(e, name) && !slices.Contains(next, q+1) {
				next = append(next, q+1)
			}
		}
	}
	next = closure(elems, next)
	return next, slices.Contains(next, len(elems))
}

// step decides about the entry name in a directory whose state is st:
// whether it is excluded, selected, and (for a directory) the state of
// its own entries. Entries neither selected nor on the way to a match
// (!kid.alive()) are left out.
func (s *selector) step(st selState, name string) (excluded, selected bool, kid selState) {
	kid.exc = make([][]int, len(s.exclude))
	for i, p := range s.exclude {
		if p.anywhere {
			excluded = excluded || matchElem(p.elems[0], name)
			continue
		}
		next, full := advance(p.elems, st.exc[i], name)
		excluded = excluded || full
		kid.exc[i] = next
	}
	if excluded {
		// An include that names what an exclude leaves out did find it:
		// it is not reported as missing.
		if !st.all {
			for i, p := range s.include {
				if _, full := advance(p.elems, st.inc[i], name); full {
					p.hits++
				}
			}
		}
		return true, false, selState{}
	}
	if st.all {
		kid.all = true
		return false, true, kid
	}
	kid.inc = make([][]int, len(s.include))
	for i, p := range s.include {
		next, full := advance(p.elems, st.inc[i], name)
		if full {
			p.hits++
			selected = true
			kid.named = kid.named || p.literal != ""
		}
		kid.inc[i] = next
	}
	kid.all = selected
	return false, selected, kid
}

// alive reports whether something below a directory in this state may
// still be selected.
func (st selState) alive() bool {
	if st.all {
		return true
	}
	for _, pos := range st.inc {
		if len(pos) > 0 {
			return true
		}
	}
	return false
}

// matchElem matches one path element (patterns were checked by compile).
func matchElem(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}
