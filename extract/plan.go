package extract

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync/atomic"

	"github.com/isofsd/isofsd/isofmt"
)

// entry is one thing to create, in the order of the walk: a directory
// comes before its entries.
type entry struct {
	node   *isofmt.Node // nil for boot images and their directory
	name   string       // the name wanted in DIR
	rel    string       // image path, for messages
	parent int          // plan index of the parent directory; -1 is DIR
	linkTo int          // for a second hard link: plan index of the first; else -1
	// linked is set on the first name of a hard-linked file: its
	// identity is recorded for the links made later.
	linked bool
	// merged is set on a directory that existed in DIR and was merged
	// into: it keeps its own owner, mode and times.
	merged bool
	// named: an Include naming one path (no wildcard) matched this entry
	// itself; Stream follows such a symlink.
	named bool
	// ranges are the parts to copy when a Filter asked for part of the
	// file (nil: all of it); why is the Filter's reason.
	ranges []Range
	why    string
	// data is set for content that is not a node's (boot images).
	data   io.ReaderAt
	dataSz int64

	state atomic.Int32
	// dest is the name actually written (it differs under Rename); id
	// identifies a directory, or the first name of a hard-linked file.
	// Both are set by whoever creates the entry, before anyone else
	// reads them (directories before the copy phase, files before the
	// link phase).
	dest string
	id   fileID
}

// Entry states.
const (
	pending int32 = iota
	done
	failed
	skipped
)

func (e *entry) isDir() bool {
	if e.node == nil {
		return e.data == nil
	}
	return e.node.IsDir()
}

func (e *entry) isRegular() bool {
	return e.node == nil && e.data != nil || e.node != nil && e.node.Stat.Mode.IsRegular()
}

func (e *entry) size() int64 {
	if e.node == nil {
		return e.dataSz
	}
	return e.node.Stat.Size
}

// sector is where e's data starts in the image, or its record; -1 for
// what has neither.
func (e *entry) sector() int64 {
	if e.node == nil {
		return -1
	}
	return Sector(&e.node.Stat)
}

// Sector is the sector to name in a message about an entry: where its
// data starts, or where its record is.
func Sector(st *isofmt.Stat) int64 {
	for _, e := range st.Extents {
		if !e.Sparse {
			return e.Offset / isofmt.SectorSize
		}
	}
	return st.Location / isofmt.SectorSize
}

// typeLetter is e's type as ls -l shows it ("h": a second hard link).
func (e *entry) typeLetter() string {
	if e.linkTo >= 0 {
		return "h"
	}
	if e.node == nil {
		if e.data == nil {
			return "d"
		}
		return "-"
	}
	return TypeLetter(e.node.Stat.Mode)
}

// fileTypes gives each file type its letter in ls -l's mode column and
// its name in messages; the first entry whose bits a mode has is its type.
var fileTypes = []struct {
	bits         fs.FileMode
	letter, name string
}{
	{fs.ModeDir, "d", "directory"}, {fs.ModeSymlink, "l", "symlink"}, {fs.ModeCharDevice, "c", "device"},
	{fs.ModeDevice, "b", "device"}, {fs.ModeNamedPipe, "p", "FIFO"}, {fs.ModeSocket, "s", "socket"},
}

// TypeLetter is the first letter of ls -l's mode column for m.
func TypeLetter(m fs.FileMode) string {
	for _, t := range fileTypes {
		if m&t.bits != 0 {
			return t.letter
		}
	}
	return "-"
}

// typeName names a file type in messages.
func typeName(m fs.FileMode) string {
	for _, t := range fileTypes {
		if m&t.bits != 0 {
			return t.name
		}
	}
	return "file"
}

// buildPlan walks the selected part of the tree, metadata only, through
// isofmt.Walk (the walk ls and recover use too).
func (x *run) buildPlan() error {
	root, err := x.img.Root()
	if err != nil {
		return fmt.Errorf("root directory: %w", err)
	}
	type dirInfo struct {
		idx int
		sel selState
	}
	dirs := map[*isofmt.Node]dirInfo{root: {idx: -1, sel: x.sel.start()}}
	firstLink := map[uint64]int{}
	var selected []bool // by plan index: selected itself, not only on the way
	add := func(e *entry, sel bool) int {
		x.plan = append(x.plan, e)
		selected = append(selected, sel)
		return len(x.plan) - 1
	}
	err = isofmt.Walk(x.img, ".", root, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			di := dirs[d.Node]
			delete(dirs, d.Node)
			if d.Err != nil {
				x.failAt(d.Path, d.Node, fmt.Errorf("reading directory: %w (%d entries read before the damage are extracted)", d.Err, len(d.Entries)))
			}
			var enter []*isofmt.Node
			for _, k := range d.Entries {
				rel := isofmt.JoinPath(d.Path, k.Name)
				if err := hostName(k.Name); err != nil {
					x.failAt(rel, k, fmt.Errorf("refused: %w", err))
					continue
				}
				excluded, sel, kid := x.sel.step(di.sel, k.Name)
				if excluded || !sel && (!k.IsDir() || !kid.alive()) {
					continue
				}
				e := &entry{node: k, name: k.Name, rel: rel, parent: di.idx, linkTo: -1, named: kid.named}
				if k.IsDir() {
					dirs[k] = dirInfo{idx: add(e, sel), sel: kid}
					enter = append(enter, k)
					continue
				}
				if !x.decide(e) {
					continue
				}
				if st := &k.Stat; st.Mode.IsRegular() && st.Nlink > 1 && !x.o.Metadata.NoLinks {
					if first, ok := firstLink[st.Inode]; ok {
						e.linkTo = first
					} else {
						firstLink[st.Inode] = len(x.plan)
						e.linked = true
					}
				}
				add(e, true)
			}
			return enter, nil
		},
		Refused: func(p string, n *isofmt.Node, why error) {
			if di, ok := dirs[n]; ok {
				delete(dirs, n)
				x.fail(x.plan[di.idx], fmt.Errorf("refused: %w", why))
			}
		},
	})
	if err != nil {
		if errors.Is(err, isofmt.ErrWalkEntries) {
			x.failAt("", nil, err)
		} else {
			return err
		}
	}
	x.prune(selected)
	return nil
}

// decide asks the Filter about a regular file: false leaves it out.
func (x *run) decide(e *entry) bool {
	st := &e.node.Stat
	if x.o.Filter == nil || !st.Mode.IsRegular() {
		return true
	}
	d := x.o.Filter(e.rel, e.node)
	if d.Skip {
		x.event(Event{Kind: Skipped, Path: e.rel, Sector: e.sector(), Type: "-", Size: st.Size, Err: errors.New(d.Reason)})
		return false
	}
	if d.Ranges == nil {
		return true
	}
	rs := clip(d.Ranges, st.Size)
	switch {
	case len(rs) == 0:
		x.event(Event{Kind: Skipped, Path: e.rel, Sector: e.sector(), Type: "-", Size: st.Size, Err: errors.New(d.Reason)})
		return false
	case len(rs) == 1 && rs[0] == Range{0, st.Size}:
		return true
	}
	e.ranges, e.why = rs, d.Reason
	return true
}

// clip keeps the parts of rs inside [0, size), sorted and merged.
func clip(rs []Range, size int64) []Range {
	var out []Range
	for _, r := range rs {
		lo, hi := max(r.Offset, 0), min(r.End(), size)
		if lo < hi {
			out = append(out, Range{lo, hi - lo})
		}
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp.Compare(a.Offset, b.Offset) })
	var merged []Range
	for _, r := range out {
		if n := len(merged); n > 0 && r.Offset <= merged[n-1].End() {
			merged[n-1].Length = max(merged[n-1].End(), r.End()) - merged[n-1].Offset
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// Subtract returns the parts of rs (sorted, not overlapping) that no
// range of holes covers.
func Subtract(rs, holes []Range) []Range {
	var out []Range
	for _, r := range rs {
		cur := []Range{r}
		for _, h := range holes {
			var next []Range
			for _, c := range cur {
				if h.End() <= c.Offset || h.Offset >= c.End() {
					next = append(next, c)
					continue
				}
				if h.Offset > c.Offset {
					next = append(next, Range{c.Offset, h.Offset - c.Offset})
				}
				if h.End() < c.End() {
					next = append(next, Range{h.End(), c.End() - h.End()})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

// prune drops the directories that were walked only on the way to a
// pattern and hold nothing selected, then renumbers the plan.
func (x *run) prune(selected []bool) {
	keep := slices.Clone(selected)
	for i := len(x.plan) - 1; i >= 0; i-- {
		if keep[i] && x.plan[i].parent >= 0 {
			keep[x.plan[i].parent] = true
		}
	}
	if !slices.Contains(keep, false) {
		return
	}
	newIdx := make([]int, len(x.plan))
	var out []*entry
	for i, e := range x.plan {
		newIdx[i] = -1
		if keep[i] {
			newIdx[i] = len(out)
			out = append(out, e)
		}
	}
	for _, e := range out {
		if e.parent >= 0 {
			e.parent = newIdx[e.parent]
		}
		if e.linkTo >= 0 {
			e.linkTo = newIdx[e.linkTo]
		}
	}
	x.plan = out
}

// BootDirName is the directory that holds the El Torito boot images, as
// 7-Zip names it.
const BootDirName = "[BOOT]"

// planBoot adds DIR/[BOOT]/ and one file per boot image to the plan.
func (x *run) planBoot() error {
	if x.img.Info().Boot == nil {
		return errors.New("the image has no El Torito boot catalog")
	}
	dirIdx := -1
	// isofmt's one rule: the entries with data, named boot-N-platform.img.
	for _, b := range x.img.BootImages() {
		if err := hostName(b.Name); err != nil {
			return fmt.Errorf("boot entry %d: %w", b.Index, err)
		}
		if dirIdx < 0 {
			dirIdx = len(x.plan)
			x.plan = append(x.plan, &entry{name: BootDirName, rel: BootDirName, parent: -1, linkTo: -1})
		}
		x.plan = append(x.plan, &entry{name: b.Name, rel: BootDirName + "/" + b.Name, parent: dirIdx, linkTo: -1,
			data: x.img.BootImage(b), dataSz: b.Size})
	}
	return nil
}
