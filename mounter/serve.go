package mounter

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals starts catching the signals that end a mount (SIGTERM, SIGINT
// and on Unix SIGHUP; on Windows Ctrl-C and console close) for Serve.
// Call it before mounting: a signal that arrives while the mount is being
// set up then waits for Serve instead of killing the process halfway
// (which leaves a stale mount). SIGHUP too: a foreground mount whose
// terminal goes away would otherwise die the same way.
func Signals() chan os.Signal {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, StopSignals...)
	return sig
}

// Serve waits until m is unmounted, unmounting it on a stop signal or
// ctx's end. If files are open the mount is detached lazily and served
// until they are closed. sig is what Signals returned (nil: Serve calls
// it). ready, if not nil, is called once the signal handlers are in
// place: a supervisor told "ready" earlier could stop us with a SIGTERM
// that kills the process outright and leaves a stale mount.
func Serve(ctx context.Context, m *Mount, sig chan os.Signal, ready func()) error {
	if sig == nil {
		sig = Signals()
	}
	defer signal.Stop(sig)
	if ready != nil {
		ready()
	}
	// A closed log pipe must not kill the server.
	signal.Ignore(syscall.SIGPIPE)
	done := make(chan error, 1)
	go func() { done <- m.Wait() }()
	log := m.opts.Log.WithField("mountpoint", m.mountpoint)
	unmount := func(why string) {
		log.WithField("reason", why).Info("unmounting")
		if err := m.Unmount(); err != nil {
			log.WithError(err).Warn("unmount failed; detaching lazily")
			if err := m.Detach(); err != nil {
				log.WithError(err).Error("lazy unmount failed")
			}
		}
	}
	ctxDone := ctx.Done()
	for {
		select {
		case s := <-sig:
			unmount(s.String())
		case <-ctxDone:
			ctxDone = nil
			unmount(ctx.Err().Error())
		case err := <-done:
			return err
		}
	}
}
