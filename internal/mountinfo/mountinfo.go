// Package mountinfo parses /proc/self/mountinfo (proc(5)). It is shared by
// the mount lifecycle (confirming a mount appeared with the options asked
// for, refusing to unmount what is not ours, finding the processes that
// hold a mount) and the device writer (refusing targets with mounted
// partitions), so both read the file the same way.
package mountinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Entry is one line of mountinfo.
type Entry struct {
	// ID is the mount's unique ID (also in /proc/PID/fdinfo's mnt_id).
	ID int
	// Major and Minor are the device number of the mounted file system.
	Major, Minor uint32
	MountPoint   string
	// Options are the per-mount options (ro, nosuid, nodev, …).
	Options string
	FSType  string
	Source  string
	// SuperOptions are the file system's own options (for FUSE:
	// user_id, group_id, allow_other, default_permissions, …).
	SuperOptions string
}

// HasOption reports whether the comma-separated list opts holds opt.
func HasOption(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// MaxLines caps the lines read: a real system has hundreds, a container
// host a few thousand.
const MaxLines = 1 << 16

// Path is the mount table of the calling process.
const Path = "/proc/self/mountinfo"

// Read parses the calling process's mount table.
func Read() ([]Entry, error) {
	f, err := os.Open(Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Find returns the last (topmost) mount at mountpoint in the calling
// process's mount table. It parses only the lines that can be that
// mount: a daemon confirming each of a thousand mounts would otherwise
// parse a thousand-line table a thousand times over.
func Find(mountpoint string) (Entry, bool, error) {
	f, err := os.Open(Path)
	if err != nil {
		return Entry{}, false, err
	}
	defer f.Close()
	return FindIn(f, mountpoint)
}

// FindIn is Find over the table r holds.
func FindIn(r io.Reader, mountpoint string) (Entry, bool, error) {
	needle := []byte(" " + Escape(mountpoint) + " ")
	var found Entry
	ok := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= MaxLines {
			return found, ok, fmt.Errorf("mountinfo: more than %d lines", MaxLines)
		}
		line := sc.Bytes()
		if !bytes.Contains(line, needle) {
			continue
		}
		es, err := Parse(bytes.NewReader(line))
		if err != nil {
			return found, ok, err
		}
		for _, e := range es {
			if e.MountPoint == mountpoint {
				found, ok = e, true
			}
		}
	}
	return found, ok, sc.Err()
}

// Escape encodes a path as mountinfo writes it: space, tab, newline and
// backslash as \ooo octal escapes.
func Escape(s string) string {
	if !strings.ContainsAny(s, " \t\n\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Parse reads the format
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields 1 (mount ID), 3 (major:minor), 5 (mount point) and 6 (mount
// options) come before the optional fields; the file system type, source
// and super block options follow the "-" separator. Octal escapes (\040
// for a space) are decoded.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= MaxLines {
			return out, fmt.Errorf("mountinfo: more than %d lines", MaxLines)
		}
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: mount ID %q", n+1, f[0])
		}
		major, minor, err := ParseDevNum(f[2])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n+1, err)
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue // no type and source: not a line the kernel writes
		}
		e := Entry{ID: id, Major: major, Minor: minor, MountPoint: Unescape(f[4]), Options: f[5],
			FSType: f[sep+1], Source: Unescape(f[sep+2])}
		if sep+3 < len(f) {
			e.SuperOptions = f[sep+3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// ParseDevNum parses "MAJ:MIN".
func ParseDevNum(s string) (major, minor uint32, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, fmt.Errorf("device number %q: want MAJ:MIN", s)
	}
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("device number %q: want MAJ:MIN", s)
	}
	return uint32(ma), uint32(mi), nil
}

// Unescape decodes the \ooo octal escapes the kernel uses for space, tab,
// newline and backslash in mountinfo and /proc/swaps.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
