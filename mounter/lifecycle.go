package mounter

import (
	"context"
	"os"
	"os/signal"
)

// RunOptions say how Run lives.
type RunOptions struct {
	// Foreground serves in this process until the mount ends or a stop
	// signal arrives. Otherwise Run re-executes the binary with Args,
	// detached, and returns once that child reports the mount ready (or
	// why it failed): the child calls Run again and finds itself
	// daemonized (ReadyFromEnv).
	Foreground bool
	Args       []string
	// LogFile receives the detached child's output (else the null
	// device).
	LogFile string
	// InChild runs in the detached child before it mounts (to send its
	// log to syslog, say).
	InChild func()
	// ExitCode maps a failure to the exit code the child reports to its
	// parent.
	ExitCode func(error) int
}

// Run is the whole life of one mount, as rclone's mountlib.Mount: in the
// caller's process, it daemonizes and waits until the child says the
// mount is really there; in the child (or in the foreground) it catches
// the stop signals, mounts (New confirms the mount), reports READY to
// the parent and to systemd only then, serves until unmounted or told to
// stop, and unmounts. ready, if not nil, is called with the mount once it
// is ready, in the process that serves it. The mountpoint returned is
// where the detached child mounted (it may have chosen it: an automatic
// mountpoint, a free drive letter); "" in the serving process.
func Run(ctx context.Context, o Options, r RunOptions, ready func(*Mount)) (string, error) {
	rep := ReadyFromEnv()
	if !r.Foreground && !rep.IsDaemon() {
		return DaemonizeMount(r.Args, r.LogFile)
	}
	if rep.IsDaemon() && r.InChild != nil {
		r.InChild()
	}
	sig := Signals() // before mounting: see Signals
	m, err := New(ctx, o)
	if err != nil {
		signal.Stop(sig)
		code := 1
		if r.ExitCode != nil {
			code = r.ExitCode(err)
		}
		rep.Fail(code, err)
		return "", err
	}
	if rep.IsDaemon() {
		// Keep no directory busy (the parent's working directory may be
		// on a file system someone wants to unmount).
		os.Chdir("/")
	}
	return "", Serve(ctx, m, sig, func() {
		if ready != nil {
			ready(m)
		}
		rep.OKAt(m.Mountpoint())
	})
}
