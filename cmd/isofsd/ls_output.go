package main

// The output side of `isofsd ls`: the ls(1)-like text listing and the
// --json array, both fed one entry at a time by the walk in ls.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/isofmt"
)

// lsPrinter receives what ls lists, in order.
type lsPrinter interface {
	// header starts the listing of directory dir (with -R).
	header(dir string)
	// entry lists name, an entry of directory dir.
	entry(dir, name string, st *isofmt.Stat)
	// close finishes the output.
	close()
}

func newLsPrinter(w io.Writer, f lsFlags) lsPrinter {
	if f.json {
		return &lsJSON{w: w, f: f}
	}
	return &lsText{w: w, f: f}
}

// lsText prints like ls(1); names are passed through termSafe so that a
// hostile name cannot rewrite the terminal.
type lsText struct {
	w       io.Writer
	f       lsFlags
	printed bool
}

func (l *lsText) header(dir string) {
	if l.printed {
		fmt.Fprintln(l.w)
	}
	fmt.Fprintf(l.w, "%s:\n", termSafe(lsShowPath(dir)))
	l.printed = true
}

func (l *lsText) entry(_, name string, st *isofmt.Stat) {
	l.printed = true
	w, f := l.w, l.f
	shown := termSafe(name)
	if f.inode {
		fmt.Fprintf(w, "%8d ", st.Inode)
	}
	if !f.long {
		fmt.Fprintln(w, shown)
		return
	}
	size := fmt.Sprint(st.Size)
	if f.human {
		size = units.Bytes(st.Size)
	}
	if st.Mode&fs.ModeDevice != 0 {
		size = fmt.Sprintf("%d, %d", st.DevMajor(), st.DevMinor())
	}
	uid, gid := st.Owner(f.uid, f.gid)
	fmt.Fprintf(w, "%s %3d %5d %5d %10s %s %s", lsMode(st.Mode), st.Nlink, uid, gid, size, lsTime(st.ModTime.Time()), shown)
	if st.Mode&fs.ModeSymlink != 0 {
		fmt.Fprintf(w, " -> %s", termSafe(st.Target))
	}
	fmt.Fprintln(w)
}

func (l *lsText) close() {}

// lsJSONEntry is one element of `ls --json`. Names are JSON strings:
// control characters arrive escaped, and bytes that are not UTF-8 (which
// no tree isofmt decodes produces) would arrive as U+FFFD.
type lsJSONEntry struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Type  string `json:"type"` // file, dir, symlink, char, block, fifo, socket
	Mode  string `json:"mode"` // as ls -l shows it
	Perm  uint32 `json:"perm"` // permission bits with setuid/setgid/sticky, as chmod takes them
	Size  int64  `json:"size"`
	Nlink uint32 `json:"nlink"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	// OwnerFromImage is false when the image records no owner and
	// uid/gid are the listing user's.
	OwnerFromImage bool       `json:"owner_from_image"`
	ModTime        *time.Time `json:"mtime,omitempty"`
	Inode          uint64     `json:"inode"`
	Hidden         bool       `json:"hidden,omitempty"`
	Target         string     `json:"target,omitempty"`
	Major          *uint32    `json:"major,omitempty"`
	Minor          *uint32    `json:"minor,omitempty"`
	// Sector is the 2 KiB sector where the data starts (absent when the
	// entry has no data on the image).
	Sector *int64 `json:"sector,omitempty"`
}

// lsJSON streams one JSON array, so that a recursive listing of a huge
// image is never held in memory.
type lsJSON struct {
	w io.Writer
	f lsFlags
	n int
}

func (l *lsJSON) header(string) {}

func (l *lsJSON) entry(dir, name string, st *isofmt.Stat) {
	e := lsJSONEntry{Path: lsShowPath(path.Join(dir, name)), Name: name, Type: lsType(st.Mode),
		Mode: lsMode(st.Mode), Perm: isofmt.UnixMode(st.Mode) & 0o7777, Size: st.Size, Nlink: st.Nlink,
		OwnerFromImage: st.HasOwner, Inode: st.Inode, Hidden: st.Hidden}
	e.UID, e.GID = st.Owner(l.f.uid, l.f.gid)
	if t := st.ModTime.Time(); !t.IsZero() {
		e.ModTime = &t
	}
	if st.Mode&fs.ModeSymlink != 0 {
		e.Target = st.Target
	}
	if st.Mode&fs.ModeDevice != 0 {
		maj, min := st.DevMajor(), st.DevMinor()
		e.Major, e.Minor = &maj, &min
	}
	if off, ok := st.DataOffset(); ok {
		sec := off / isofmt.SectorSize
		e.Sector = &sec
	}
	b, _ := json.Marshal(e) // only strings, numbers and times: cannot fail
	sep := ",\n"
	if l.n == 0 {
		sep = "[\n"
	}
	l.n++
	fmt.Fprintf(l.w, "%s  %s", sep, b)
}

func (l *lsJSON) close() {
	if l.n == 0 {
		fmt.Fprintln(l.w, "[]")
		return
	}
	fmt.Fprintln(l.w, "\n]")
}

// lsTypeNames names each type letter of the one file-type table
// (extract.TypeLetter, ls -l's first column) for --json.
var lsTypeNames = map[string]string{"-": "file", "d": "dir", "l": "symlink", "c": "char", "b": "block", "p": "fifo", "s": "socket"}

// lsType names the kind of an entry for --json.
func lsType(m fs.FileMode) string { return lsTypeNames[extract.TypeLetter(m)] }
