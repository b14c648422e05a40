package isofmt

import (
	"errors"
	"fmt"
	"strings"
)

// CheckName reports why name cannot stand as one path element: empty,
// "." or "..", or holding "/" or NUL. Every name isofmt hands out passes
// (each tree's decoder rewrites such names, see core.PathElement), so
// callers that write or resolve paths use it as a second line, and to
// check names that do not come from a tree (boot catalog entries, user
// input).
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name %q would leave its directory", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("name %q holds a slash", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name %q holds a NUL byte", name)
	}
	return nil
}

// DirKey identifies a directory by where its data is, so that a directory
// reached twice — a loop, or two records sharing one extent in a hostile
// image — is noticed even when the two records differ (a Rock Ridge
// serial number is the image's to choose). Without data extents (UDF
// in-ICB directories) the inode stands in.
func DirKey(st *Stat) int64 {
	if off, ok := st.DataOffset(); ok {
		return off
	}
	return -int64(st.Inode) - 1
}

// DirReader reads directories; *Image is one.
type DirReader interface {
	ReadDirNode(dir *Node) ([]*Node, error)
}

// WalkDir is one directory met by Walk.
type WalkDir struct {
	// Path is the directory's slash path: the start's path as given, then
	// joined with each name below it ("." joins as nothing).
	Path  string
	Node  *Node
	Depth int // 0 for the start
	// Entries are the directory's entries in on-disk order; after a read
	// error, those parsed before the damage.
	Entries []*Node
	Err     error // the read error, if any
}

// JoinPath joins a directory path and an entry name as Walk does.
func JoinPath(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Reasons Walk gives for not entering a directory.
var (
	// ErrWalkLoop: the directory's data was met before in this walk.
	ErrWalkLoop = fmt.Errorf("%w: directory reached twice (loop or shared directory)", ErrCorrupt)
	// ErrWalkName: the name cannot be a path element (see CheckName).
	ErrWalkName = fmt.Errorf("%w: unusable name", ErrCorrupt)
	// ErrWalkDepth: deeper than MaxDepth.
	ErrWalkDepth = fmt.Errorf("%w: directories nested deeper than %d", ErrLimit, MaxDepth)
	// ErrWalkEntries: more than MaxWalkEntries entries; the walk stops.
	ErrWalkEntries = fmt.Errorf("%w: more than %d entries", ErrLimit, MaxWalkEntries)
)

// WalkOptions are Walk's callbacks.
type WalkOptions struct {
	// Visit is called once per directory, with its entries, and returns
	// those to descend into (directories; other nodes are ignored), in
	// the order to visit them. An error stops the walk and is returned.
	Visit func(d *WalkDir) (enter []*Node, err error)
	// Refused, if set, is told about each directory Visit asked for that
	// the walk does not enter, with the reason: ErrWalkLoop,
	// ErrWalkName or ErrWalkDepth (wrapped with the sector).
	Refused func(path string, n *Node, err error)
}

// Walk visits start (whose slash path is path) and the directories
// below it that Visit selects, depth first: a directory's Visit comes
// before those of its subdirectories, in the order Visit returned them.
// It is the one tree walk of isofsd (ls -R, extract, verify, salvage), so
// its guards hold everywhere: each directory's data is entered once
// (DirKey), names are checked (CheckName), depth is capped at MaxDepth
// and the entries seen at MaxWalkEntries. Memory is the listings along
// one path from start, which the directory cache holds anyway.
func Walk(r DirReader, path string, start *Node, o WalkOptions) error {
	w := &walker{r: r, o: o, seen: map[int64]string{DirKey(&start.Stat): path}}
	return w.dir(path, start, 0)
}

type walker struct {
	r     DirReader
	o     WalkOptions
	seen  map[int64]string
	count int
}

func (w *walker) dir(path string, n *Node, depth int) error {
	d := &WalkDir{Path: path, Node: n, Depth: depth}
	d.Entries, d.Err = w.r.ReadDirNode(n)
	if w.count += len(d.Entries); w.count > MaxWalkEntries {
		return ErrWalkEntries
	}
	enter, err := w.o.Visit(d)
	if err != nil {
		return err
	}
	for _, k := range enter {
		if !k.IsDir() {
			continue
		}
		p := JoinPath(path, k.Name)
		if why := w.refuse(p, k, depth); why != nil {
			if w.o.Refused != nil {
				w.o.Refused(p, k, why)
			}
			continue
		}
		if err := w.dir(p, k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// refuse says why k (at p) is not entered, or nil; entering records it.
func (w *walker) refuse(p string, k *Node, depth int) error {
	if CheckName(k.Name) != nil {
		return fmt.Errorf("%w %q (directory record at sector %d)", ErrWalkName, k.Name, k.Stat.Location/SectorSize)
	}
	if depth+1 > MaxDepth {
		return ErrWalkDepth
	}
	key := DirKey(&k.Stat)
	if prev, dup := w.seen[key]; dup {
		return fmt.Errorf("%w: its data at sector %d was already visited as %s", ErrWalkLoop, max(key, k.Stat.Location)/SectorSize, prev)
	}
	w.seen[key] = p
	return nil
}
