package desktop

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// mimeapps.list (the freedesktop MIME applications associations file)
// is an INI file whose [Default Applications] group maps a MIME type to
// desktop file IDs. `xdg-mime default` edits the same group, but where
// it writes depends on the desktop it detects; editing the file here
// keeps the change in one known place that Uninstall can undo exactly.
// Lines are kept as they are; only the keys we set are touched.

// MaxMimeAppsSize caps the mimeapps.list we edit.
const MaxMimeAppsSize = 4 << 20

const defaultGroup = "[Default Applications]"

// mimeAppsLines splits a file into lines without their newlines.
func mimeAppsLines(doc []byte) []string {
	if len(doc) == 0 {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(make([]byte, 0, 4096), MaxMimeAppsSize+1)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// groupRange returns the line range [start, end) of the body of the
// [Default Applications] group (start is the line after its header), or
// -1, -1 when there is none. A repeated group header counts from its
// first occurrence (later ones are invalid and ignored by readers).
func groupRange(lines []string) (int, int) {
	start := -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			if start >= 0 {
				return start, i
			}
			if t == defaultGroup {
				start = i + 1
			}
		}
	}
	if start < 0 {
		return -1, -1
	}
	return start, len(lines)
}

// keyOf returns the key of a "key=value" line, or "".
func keyOf(line string) (string, string, bool) {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return "", "", false
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return "", "", false
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), true
}

// MimeAppsDefaults returns the [Default Applications] entries of doc.
func MimeAppsDefaults(doc []byte) map[string]string {
	lines := mimeAppsLines(doc)
	out := map[string]string{}
	s, e := groupRange(lines)
	for i := max(s, 0); s >= 0 && i < e; i++ {
		if k, v, ok := keyOf(lines[i]); ok {
			if _, seen := out[k]; !seen {
				out[k] = v
			}
		}
	}
	return out
}

// setDefaults sets type=value in [Default Applications] for each entry
// of set (a nil value deletes the key), adding the group when missing.
// It returns the new file and, for each key, the value it had (nil when
// absent).
func setDefaults(doc []byte, set map[string]*string) ([]byte, map[string]*string, error) {
	if len(doc) > MaxMimeAppsSize {
		return nil, nil, fmt.Errorf("desktop: mimeapps.list: %d bytes, over %d", len(doc), MaxMimeAppsSize)
	}
	lines := mimeAppsLines(doc)
	prev := map[string]*string{}
	for k := range set {
		prev[k] = nil
	}
	s, e := groupRange(lines)
	if s < 0 {
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			lines = append(lines, "")
		}
		lines = append(lines, defaultGroup)
		s, e = len(lines), len(lines)
	}
	done := map[string]bool{}
	var body []string
	for _, l := range lines[s:e] {
		k, v, ok := keyOf(l)
		want, ours := set[k]
		if !ok || !ours {
			body = append(body, l)
			continue
		}
		if !done[k] {
			v := v
			prev[k] = &v
		}
		if done[k] || want == nil {
			// Drop repeats of a key we set, and keys we delete.
			done[k] = true
			continue
		}
		done[k] = true
		body = append(body, k+"="+*want)
	}
	// New keys go after the last non-blank line of the group, in the
	// order of DefaultTypes, then any other key sorted.
	insert := len(body)
	for insert > 0 && strings.TrimSpace(body[insert-1]) == "" {
		insert--
	}
	var added []string
	for _, k := range sortedKeys(set) {
		if !done[k] && set[k] != nil {
			added = append(added, k+"="+*set[k])
		}
	}
	body = append(body[:insert], append(added, body[insert:]...)...)
	out := append(append(append([]string{}, lines[:s]...), body...), lines[e:]...)
	var b bytes.Buffer
	for _, l := range out {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes(), prev, nil
}

// sortedKeys orders keys as DefaultTypes first, then the rest sorted.
func sortedKeys(m map[string]*string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range DefaultTypes {
		if _, ok := m[t]; ok {
			out = append(out, t)
			seen[t] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// emptyDefaultGroup reports whether doc holds nothing but an empty
// [Default Applications] group (and blank lines): what setDefaults left
// of a file it created once our keys are gone.
func emptyDefaultGroup(doc []byte) bool {
	for _, l := range mimeAppsLines(doc) {
		t := strings.TrimSpace(l)
		if t != "" && t != defaultGroup {
			return false
		}
	}
	return true
}
