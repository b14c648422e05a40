package burn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// command is one run of an engine program.
type command struct {
	name string
	args []string
	// files are passed to the program as descriptors 3, 4, ...
	files []*os.File
}

func (c command) String() string { return c.name + " " + strings.Join(c.args, " ") }

// runner runs a command, handing each line it prints (stdout and stderr
// merged, split at \n and \r) to line as it arrives. Tests replace it to
// check command lines and replay captured output.
type runner func(ctx context.Context, c command, line func(string)) error

// cancelGrace is how long an engine may take to stop after being
// interrupted before it is killed. libburn asks for "the normal burning
// time": it must release the drive cleanly or the drive may stay locked.
const cancelGrace = 2 * time.Minute

// execRunner runs c as a real process. On cancellation the program is
// interrupted (libburn then aborts the burn and releases the drive) and
// killed only if it has not ended after cancelGrace.
func execRunner(ctx context.Context, c command, line func(string)) error {
	cmd := exec.CommandContext(ctx, c.name, c.args...)
	cmd.ExtraFiles = c.files
	cmd.Env = append(os.Environ(), "LC_ALL=C") // messages in the language the parsers read
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = cancelGrace
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	pw.Close()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	sc.Split(splitLines)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), " \t"); strings.TrimSpace(l) != "" {
			line(l)
		}
	}
	pr.Close()
	err = cmd.Wait()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitStatus{ee.ProcessState.String()}
	}
	return err
}

// exitStatus is how an engine program ended when it did not succeed.
type exitStatus struct{ s string }

func (e *exitStatus) Error() string { return e.s }

// output runs c and returns the lines it printed.
func output(ctx context.Context, run runner, c command) ([]string, error) {
	var out []string
	err := run(ctx, c, func(l string) {
		if len(out) < maxOutputLines {
			out = append(out, l)
		}
	})
	return out, err
}
