//go:build linux

package mounter

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo struct {
	Major, Minor uint32
	MountPoint   string
	FSType       string
	Source       string
}

// maxMountInfoLines caps the lines read: real systems have hundreds.
const maxMountInfoLines = 1 << 16

// ReadMountInfo parses /proc/self/mountinfo.
func ReadMountInfo() ([]MountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

// parseMountInfo reads the proc(5) format
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
//
// decoding the octal escapes (\040 for a space) in paths.
func parseMountInfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= maxMountInfoLines {
			return out, fmt.Errorf("mountinfo: more than %d lines", maxMountInfoLines)
		}
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		mi := MountInfo{MountPoint: unescape(f[4]), FSType: f[sep+1], Source: unescape(f[sep+2])}
		if maj, min, ok := strings.Cut(f[2], ":"); ok {
			a, _ := strconv.ParseUint(maj, 10, 32)
			b, _ := strconv.ParseUint(min, 10, 32)
			mi.Major, mi.Minor = uint32(a), uint32(b)
		}
		out = append(out, mi)
	}
	return out, sc.Err()
}

func unescape(s string) string {
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

// FindMount returns the last (topmost) mount at mountpoint.
func FindMount(mountpoint string) (MountInfo, bool, error) {
	all, err := ReadMountInfo()
	if err != nil {
		return MountInfo{}, false, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].MountPoint == mountpoint {
			return all[i], true, nil
		}
	}
	return MountInfo{}, false, nil
}
