package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
)

// testRunDir is this test run's own scratch directory (made by TestMain,
// removed when the run ends): two checkouts testing at once never share a
// path.
var testRunDir string

func TestMain(m *testing.M) {
	if code, ok := testHelper(); ok {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "isofsd-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	testRunDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// isofsdBinary builds the isofsd binary once per test run, for tests that
// need a real process (signals, FUSE served by another process, bench).
func isofsdBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(testRunDir, "isofsd")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// runRoot runs the isofsd command line in-process with stdin and returns
// stdout, stderr, the error Execute returned and the exit code main would
// return for it.
func runRoot(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error, code int) {
	t.Helper()
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	root := newRootCmd(a)
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err, exitCode(err)
}

// cliRun runs the command line and returns stdout, stderr (with the final
// error appended, as main prints it) and the exit code.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	o, e, err, code := runRoot(t, "", args...)
	var final strings.Builder
	(&app{}).report(&final, err) // the line main prints
	e += final.String()
	return o, e, code
}

// runCLI runs the command line with stdin and returns stdout, with
// "error: ..." appended when the command failed, and the exit code.
func runCLI(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	o, _, err, code := runRoot(t, stdin, args...)
	if err != nil {
		o += "error: " + err.Error() + "\n"
	}
	return o, code
}
