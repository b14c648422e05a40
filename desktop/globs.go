package desktop

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxGlobsSize caps a globs2 file read: the shared database's is ~100 KiB.
const MaxGlobsSize = 16 << 20

// ParseGlobs2 returns the globs a shared-mime-info globs2 file lists
// ("weight:type:glob[:flags]" lines, "#" comments), lowercased, mapped
// to their types. Malformed lines are skipped: the file belongs to the
// system and only tells us what it already knows.
func ParseGlobs2(r io.Reader) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(io.LimitReader(r, MaxGlobsSize))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 || f[1] == "" || f[2] == "" {
			continue
		}
		g := strings.ToLower(f[2])
		out[g] = append(out[g], f[1])
	}
	return out
}

// KnownGlobs merges the globs2 files of the data directories.
func KnownGlobs(dataDirs []string) map[string][]string {
	out := map[string][]string{}
	for _, d := range dataDirs {
		b, err := os.ReadFile(filepath.Join(d, "mime", "globs2"))
		if err != nil {
			continue
		}
		for g, ts := range ParseGlobs2(bytes.NewReader(b)) {
			out[g] = append(out[g], ts...)
		}
	}
	return out
}

// MissingTypes returns the PackageTypes none of whose globs known lists.
func MissingTypes(known map[string][]string) []MIMEType {
	var out []MIMEType
	for _, t := range PackageTypes {
		have := false
		for _, g := range t.Globs {
			if len(known[strings.ToLower(g)]) > 0 {
				have = true
			}
		}
		if !have {
			out = append(out, t)
		}
	}
	return out
}
