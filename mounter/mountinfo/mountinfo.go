// Package mountinfo parses /proc/self/mountinfo (proc(5)). It is shared by
// the mount lifecycle (confirming a mount appeared) and the device writer
// (refusing targets with mounted partitions), so both read the file the
// same way.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Entry is one line of mountinfo.
type Entry struct {
	// Major and Minor are the device number of the mounted file system.
	Major, Minor uint32
	MountPoint   string
	FSType       string
	Source       string
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

// Parse reads the format
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields 3 (major:minor) and 5 (mount point) come before the optional
// fields; the file system type and source follow the "-" separator. Octal
// escapes (\040 for a space) are decoded.
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
		out = append(out, Entry{Major: major, Minor: minor, MountPoint: Unescape(f[4]), FSType: f[sep+1], Source: Unescape(f[sep+2])})
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
