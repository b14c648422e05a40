package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestMessagesArePlainLines: what ordinary commands tell the user on
// stderr — progress without a terminal, notes, warnings — is plain
// "isofsd: ..." lines like the final error, never logrus's timestamped
// `time=... level=info msg=...` lines mixed in (review U3: burn's and
// write's progress, carve's "undelete done", service install's next
// steps, rescue's resume notice). --log-level warn hides the notes, and
// with --log-format json every stderr line is still a JSON object.
func TestMessagesArePlainLines(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	iso := isotest.CorpusFile(t, "libcdio/copying-rr.iso")
	img, _ := burnImage(t, 0)
	n := 0
	next := func(name string) string { n++; return filepath.Join(dir, name+string(rune('a'+n))) }
	type run struct {
		args []string
		says string // a message the run must print
	}
	runs := func() []run {
		rescueOut, rescueMap := next("rescued"), next("map")
		return []run{
			{[]string{"write", "--to-file", iso, next("written")}, ": verify: "},
			{[]string{"burn", img, "stdio:" + next("disc")}, "verify: "},
			{[]string{"carve", iso, "-o", next("carved")}, ""},
			{[]string{"service", "install", "--systemd", "--dir", next("units")}, "installed; now run: systemctl daemon-reload"},
			{[]string{"rescue", "--map", rescueMap, iso, rescueOut}, ""},
			{[]string{"rescue", "--map", rescueMap, iso, rescueOut}, "resuming the rescue recorded in " + rescueMap},
		}
	}
	for _, r := range runs() {
		_, errOut, code := burnRun(t, nil, r.args...)
		if code != 0 {
			t.Errorf("%q: exit %d\n%s", r.args, code, errOut)
			continue
		}
		for _, l := range strings.Split(strings.TrimSuffix(errOut, "\n"), "\n") {
			if l != "" && (!strings.HasPrefix(l, "isofsd: ") || strings.Contains(l, "level=")) {
				t.Errorf("%q: stderr line %q is not a plain message", r.args, l)
			}
		}
		if r.says != "" && !strings.Contains(errOut, r.says) {
			t.Errorf("%q: stderr lacks %q:\n%s", r.args, r.says, errOut)
		}
	}
	// --log-level warn: the notes go, nothing else comes.
	for _, r := range runs() {
		if _, errOut, code := burnRun(t, nil, append([]string{"--log-level", "warn"}, r.args...)...); code != 0 || errOut != "" {
			t.Errorf("--log-level warn %q: exit %d, stderr %q", r.args, code, errOut)
		}
	}
	// JSON: one object per line, the notes included.
	for _, r := range runs() {
		_, errOut, code := burnRun(t, nil, append([]string{"--log-format", "json"}, r.args...)...)
		if code != 0 {
			t.Errorf("json %q: exit %d\n%s", r.args, code, errOut)
		}
		for _, l := range strings.Split(strings.TrimSuffix(errOut, "\n"), "\n") {
			var rec map[string]any
			if l != "" && json.Unmarshal([]byte(l), &rec) != nil {
				t.Errorf("json %q: stderr line %q is not JSON", r.args, l)
			}
		}
		if r.says != "" && !strings.Contains(errOut, r.says) {
			t.Errorf("json %q: stderr lacks %q:\n%s", r.args, r.says, errOut)
		}
	}
}
