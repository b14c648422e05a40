package recover

import (
	"os/exec"
	"testing"
)

// run runs the program name and fails t unless it exits 0; it returns
// the combined output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
