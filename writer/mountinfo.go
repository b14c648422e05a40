package writer

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Num        DevNum
	MountPoint string
	FSType     string
	Source     string
}

// maxMountInfoLines caps how many lines are read from a mountinfo file: a
// real system has hundreds, a container host a few thousand.
const maxMountInfoLines = 1 << 16

// parseMountInfo reads the proc(5) mountinfo format:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields 3 (major:minor) and 5 (mount point) come before the optional
// fields; the filesystem type and source follow the "-" separator. Octal
// escapes (\040 for a space) are decoded.
func parseMountInfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= maxMountInfoLines {
			return out, fmt.Errorf("mountinfo: more than %d lines", maxMountInfoLines)
		}
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		num, err := parseDevNum(f[2])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n+1, err)
		}
		e := mountEntry{Num: num, MountPoint: unescapeMount(f[4])}
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				if i+1 < len(f) {
					e.FSType = f[i+1]
				}
				if i+2 < len(f) {
					e.Source = unescapeMount(f[i+2])
				}
				break
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// parseDevNum parses "MAJ:MIN".
func parseDevNum(s string) (DevNum, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return DevNum{}, fmt.Errorf("device number %q: want MAJ:MIN", s)
	}
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return DevNum{}, fmt.Errorf("device number %q: want MAJ:MIN", s)
	}
	return DevNum{uint32(ma), uint32(mi)}, nil
}

// unescapeMount decodes the \ooo octal escapes the kernel uses for space,
// tab, newline and backslash in mountinfo and /proc/swaps.
func unescapeMount(s string) string {
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

// parseSwaps reads /proc/swaps and returns the swap area names.
func parseSwaps(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n == 0 || n > maxMountInfoLines {
			continue // header line
		}
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			out = append(out, unescapeMount(f[0]))
		}
	}
	return out, sc.Err()
}
