package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

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
	if err != nil {
		e += fmt.Sprintf("isofsd: %v\n", err)
	}
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
