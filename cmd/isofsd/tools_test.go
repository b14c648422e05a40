package main

import (
	"os/exec"
	"strings"
	"testing"
)

// needTool skips t unless the program name is installed, naming the
// Debian package that has it; it returns the program's path.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s)", name, map[string]string{
			"7zz": "7zip", "isoinfo": "genisoimage", "bsdtar": "libarchive-tools"}[name])
	}
	return p
}

// runTool runs the program name (skipping t when it is not installed) and
// fails t unless it exits 0; it returns the combined output.
func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	needTool(t, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
