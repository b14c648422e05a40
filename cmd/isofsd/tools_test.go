package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// runTool runs the program name (skipping t when it is not installed) and
// fails t unless it exits 0; it returns the combined output.
func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	isotest.RequireTool(t, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
