package writer

import (
	"github.com/isofsd/isofsd/internal/mountinfo"

	"bufio"
	"io"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Num        DevNum
	MountPoint string
	FSType     string
	Source     string
}

// parseMountInfo reads a mountinfo table (see package mountinfo).
func parseMountInfo(r io.Reader) ([]mountEntry, error) {
	all, err := mountinfo.Parse(r)
	if err != nil {
		return nil, err
	}
	out := make([]mountEntry, len(all))
	for i, e := range all {
		out[i] = mountEntry{Num: DevNum{e.Major, e.Minor}, MountPoint: e.MountPoint, FSType: e.FSType, Source: e.Source}
	}
	return out, nil
}

// parseDevNum parses "MAJ:MIN".
func parseDevNum(s string) (DevNum, error) {
	a, b, err := mountinfo.ParseDevNum(s)
	return DevNum{a, b}, err
}

// unescapeMount decodes the kernel's octal escapes (mountinfo, /proc/swaps).
func unescapeMount(s string) string { return mountinfo.Unescape(s) }

// parseSwaps reads /proc/swaps and returns the swap area names.
func parseSwaps(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n == 0 || n > mountinfo.MaxLines {
			continue // header line
		}
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			out = append(out, unescapeMount(f[0]))
		}
	}
	return out, sc.Err()
}
