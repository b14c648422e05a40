package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// walkFlags calls fn for every local flag of every command under root.
func walkFlags(root *cobra.Command, fn func(c *cobra.Command, f *pflag.Flag)) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { fn(c, f) })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// TestSizeFlags: every size flag takes the one syntax (4096, 2M, 4MiB,
// 1G) and refuses garbage while the flags are parsed, naming the flag
// (issue 21 §2.4: --cache-size took bytes here and "2M" there, --bs
// "4MiB", --chunk and --cluster bytes only).
func TestSizeFlags(t *testing.T) {
	root := newRootCmd(&app{})
	want := map[string]bool{"info --cache-dir-size": false, "info --cache-size": false, "ls --cache-dir-size": false,
		"extract --cache-dir-size": false, "carve --chunk": false, "rescue --cluster": false, "rescue --sector": false,
		"write --bs": false, "verify --cache-dir-size": false,
		"fetch --chunk-size": false, "daemon --request-size": false}
	walkFlags(root, func(c *cobra.Command, f *pflag.Flag) {
		if f.Value.Type() != "size" {
			if strings.Contains(f.Name, "size") && f.Name != "cache-size" && !strings.HasSuffix(f.Name, "-kb") {
				t.Errorf("%s --%s is a %s flag, not a size", c.Name(), f.Name, f.Value.Type())
			}
			return
		}
		want[c.Name()+" --"+f.Name] = true
		v := f.Value.(*sizeValue)
		saved := *v.p
		for s, n := range map[string]int64{"4096": 4096, "2M": 2 << 20, "4MiB": 4 << 20, "1G": 1 << 30, "64k": 64 << 10} {
			err := f.Value.Set(s)
			inRange := n >= v.lo && n <= v.hi
			if inRange && (err != nil || *v.p != n) {
				t.Errorf("%s --%s %s: %v (value %d), want %d", c.Name(), f.Name, s, err, *v.p, n)
			}
			if !inRange && err == nil {
				t.Errorf("%s --%s %s: accepted outside %d..%d", c.Name(), f.Name, s, v.lo, v.hi)
			}
		}
		if err := f.Value.Set("2X"); err == nil {
			t.Errorf("%s --%s 2X accepted", c.Name(), f.Name)
		}
		*v.p = saved
	})
	for k, seen := range want {
		if !seen {
			t.Errorf("%s: not a size flag", k)
		}
	}

	// End to end, one line naming the flag.
	_, stderr, code := cliRun(t, "info", "--cache-size", "2X", "img.iso")
	if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"--cache-size"`) {
		t.Errorf("--cache-size 2X: exit %d, %q", code, stderr)
	}
	iso := isotest.CorpusFile(t, "libcdio/copying-rr.iso")
	if _, stderr, code := cliRun(t, "info", "--cache-size", "2M", iso); code != 0 {
		t.Errorf("info --cache-size 2M: exit %d %s", code, stderr)
	}
	if _, stderr, code := cliRun(t, "carve", "--chunk", "1MiB", "--scan-only", iso); code != 0 {
		t.Errorf("carve --chunk 1MiB: exit %d %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "r.iso")
	if _, stderr, code := cliRun(t, "rescue", "--cluster", "64K", iso, out); code != 0 {
		t.Errorf("rescue --cluster 64K: exit %d %s", code, stderr)
	}
}

// TestEnumCompletion asks cobra's completion protocol (what the scripts
// of `isofsd completion bash|zsh|fish` call) for the words of every enum
// flag: each gets exactly its words and no file names.
func TestEnumCompletion(t *testing.T) {
	root := newRootCmd(&app{})
	type flagOn struct{ cmd, flag string }
	found := map[flagOn][]string{}
	walkFlags(root, func(c *cobra.Command, f *pflag.Flag) {
		if e, ok := f.Value.(*enumValue); ok {
			path := strings.TrimPrefix(c.CommandPath(), "isofsd")
			found[flagOn{strings.TrimSpace(path), f.Name}] = e.allowed
		}
	})
	for _, must := range []flagOn{{"info", "tree"}, {"ls", "tree"}, {"extract", "tree"}, {"", "log-format"}, {"", "log-level"}} {
		if found[must] == nil {
			t.Errorf("%s --%s is not an enum flag", must.cmd, must.flag)
		}
	}
	if runtime.GOOS == "linux" {
		for _, must := range []flagOn{{"mount", "splice"}, {"mount", "backend"}, {"mount", "tree"}, {"daemon", "splice"}, {"daemon", "prefetch"}} {
			if found[must] == nil {
				t.Errorf("%s --%s is not an enum flag", must.cmd, must.flag)
			}
		}
	}
	for fo, words := range found {
		if fo.flag == "backend" {
			words = fuseBackends()
		}
		args := append(strings.Fields(fo.cmd), "--"+fo.flag, "")
		if fo.cmd == "" {
			args = []string{"info", "--" + fo.flag, ""}
		}
		stdout, _, _, _ := runRoot(t, "", append([]string{cobra.ShellCompRequestCmd}, args...)...)
		var got []string
		directive := ""
		sc := bufio.NewScanner(strings.NewReader(stdout))
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, ":") {
				directive = l
			} else if l != "" {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, words) || directive != ":4" {
			t.Errorf("complete %v: %q %s, want %q :4 (no file completion)", args, got, directive, words)
		}
	}
	if _, stderr, code := cliRun(t, "ls", "--tree", "hfs", "x.iso"); code != exitUsage || !strings.Contains(stderr, "want udf, rockridge, joliet or iso9660") {
		t.Errorf("--tree hfs: exit %d %q", code, stderr)
	}
	if !slices.Equal(isofmt.TreeNames, found[flagOn{"info", "tree"}]) {
		t.Errorf("--tree words %v, isofmt knows %v", found[flagOn{"info", "tree"}], isofmt.TreeNames)
	}
	// The shell scripts themselves are generated.
	if stdout, _, _, code := runRoot(t, "", "completion", "bash"); code != 0 || !strings.Contains(stdout, "__isofsd_") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// TestVersion checks --version against what `go version -m` reads from
// the same binary (the oracle for the embedded build information).
func TestVersion(t *testing.T) {
	bin := isofsdBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	goVersion := strings.Fields(string(meta))[1]
	rev := "unknown"
	for _, l := range strings.Split(string(meta), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "build\tvcs.revision="); ok {
			rev = v
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "isofsd ") {
		t.Fatalf("--version:\n%s", out)
	}
	if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(lines[1], "commit:")), rev) {
		t.Errorf("commit line %q, the binary says vcs.revision %s", lines[1], rev)
	}
	if !strings.Contains(lines[2], goVersion+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("go line %q, want %s %s/%s", lines[2], goVersion, runtime.GOOS, runtime.GOARCH)
	}
	if want := strings.Join(fuseBackends(), ", "); !strings.HasSuffix(lines[3], " "+want) || want == "" && runtime.GOOS == "linux" {
		t.Errorf("backends line %q, want %q", lines[3], want)
	}
	// A release build says its version.
	rel := filepath.Join(t.TempDir(), "isofsd-rel")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", rel, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	if out, _ := exec.Command(rel, "--version").Output(); !strings.HasPrefix(string(out), "isofsd v9.8.7\n") {
		t.Errorf("release build: %q", out)
	}
}

// TestJSONLogging: with --log-format json every stderr line is a JSON
// object, the final error included, also when the command line fails
// before --log-format is parsed (issue 21 §2.7).
func TestJSONLogging(t *testing.T) {
	bin := isofsdBinary(t)
	dir := t.TempDir()
	img := isotest.CorpusFile(t, "libcdio/bad-dir.iso") // truncated: warnings and exit 1
	for _, args := range [][]string{
		{"--log-format", "json", "info", filepath.Join(dir, "missing.iso")},
		{"info", "--cache-size", "2X", "x.iso", "--log-format", "json"},
		{"--log-format=json", "--log-level", "debug", "verify", img},
		{"--log-format", "json", "ls", "-l", img, "no/such/path"},
		{"--log-format", "json", "salvage", img, "-C", filepath.Join(dir, "out")},
		{"--log-format", "json", "nosuchcommand"},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = new(bytes.Buffer), &stderr
		cmd.Run()
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		var last map[string]any
		for _, l := range lines {
			last = nil
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Errorf("%v: stderr line is not JSON: %q", args, l)
			}
		}
		if code := cmd.ProcessState.ExitCode(); last == nil || last["level"] != "error" || last["exit_code"] != float64(code) {
			t.Errorf("%v: last stderr record %v, want the error with exit_code %d", args, last, code)
		}
	}
}

// TestTruncatedImageIsDamage: info and salvage of a truncated image whose
// content is lost exit 1 (damage found), not 0 (issue 21 §2.1).
func TestTruncatedImageIsDamage(t *testing.T) {
	img := isotest.CorpusFile(t, "libcdio/bad-dir.iso") // claims 174 sectors, has 24
	out, stderr, code := cliRun(t, "info", img)
	if code != exitDamaged || !strings.Contains(out, "TRUNCATED") || !strings.Contains(stderr, "truncated") {
		t.Errorf("info: exit %d\n%s%s", code, out, stderr)
	}
	js, _, code := cliRun(t, "info", "--json", img)
	var in struct{ Truncated bool }
	if code != exitDamaged || json.Unmarshal([]byte(js), &in) != nil || !in.Truncated {
		t.Errorf("info --json: exit %d\n%s", code, js)
	}
	out, stderr, code = cliRun(t, "salvage", img, "-C", t.TempDir())
	if code != exitDamaged || !strings.Contains(out, "image truncated") {
		t.Errorf("salvage: exit %d\n%s%s", code, out, stderr)
	}
}
