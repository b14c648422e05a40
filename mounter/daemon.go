//go:build linux

package mounter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// EnvReadyFD marks a re-executed daemon child: it holds the number of the
// file descriptor on which the child reports "READY" or "ERROR <reason>".
const EnvReadyFD = "ISOFSD_READY_FD"

// readyTimeout bounds how long the parent waits for the child's verdict.
const readyTimeout = 60 * time.Second

// Daemonize re-executes the running binary with args in a new session,
// with stdin/stdout/stderr on /dev/null (or logFile for the latter two),
// and returns once the child reports that the mount is ready — or its
// reason for failing. The child must call ReadyFromEnv.
func Daemonize(args []string, logFile string) error {
	_, err := DaemonizeMount(args, logFile)
	return err
}

// DaemonizeMount is Daemonize, returning the mountpoint the child
// reported with OKAt ("" when it reported a plain OK).
func DaemonizeMount(args []string, logFile string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("daemonize: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("daemonize: %w", err)
	}
	defer r.Close()
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if logFile != "" {
		out, err = os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	if err != nil {
		w.Close()
		return "", fmt.Errorf("daemonize: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), EnvReadyFD+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return "", fmt.Errorf("daemonize: %w", err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	verdict := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
		verdict <- strings.TrimSpace(line)
	}()
	select {
	case v := <-verdict:
		switch {
		case v == "READY":
			return "", nil
		case strings.HasPrefix(v, "READY "):
			mp, err := strconv.Unquote(strings.TrimPrefix(v, "READY "))
			if err != nil {
				return "", fmt.Errorf("the mount daemon reported a garbled mountpoint: %s", v)
			}
			return mp, nil
		case strings.HasPrefix(v, "ERROR "):
			<-exited
			de := &DaemonError{Msg: strings.TrimPrefix(v, "ERROR ")}
			if c, msg, ok := strings.Cut(de.Msg, " "); ok {
				if n, err := strconv.Atoi(c); err == nil {
					de.Code, de.Msg = n, msg
				}
			}
			return "", de
		default:
			err := <-exited
			return "", fmt.Errorf("the mount daemon exited before the mount was ready (%v)", err)
		}
	case <-time.After(readyTimeout):
		cmd.Process.Kill()
		return "", fmt.Errorf("the mount daemon did not report ready within %v", readyTimeout)
	}
}

// DaemonError is a failure the daemon child reported, with its exit code.
type DaemonError struct {
	Code int
	Msg  string
}

func (e *DaemonError) Error() string { return e.Msg }

// Ready reports the mount's outcome to whoever started us: the parent of
// a daemonized child (through EnvReadyFD), and systemd (NOTIFY_SOCKET).
type Ready struct {
	f *os.File
}

// ReadyFromEnv returns the reporter for this process; IsDaemon tells
// whether a parent is waiting.
func ReadyFromEnv() *Ready {
	s := os.Getenv(EnvReadyFD)
	os.Unsetenv(EnvReadyFD)
	if s == "" {
		return &Ready{}
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return &Ready{}
	}
	return &Ready{f: os.NewFile(uintptr(fd), "ready-pipe")}
}

// IsDaemon reports whether a parent waits for our verdict.
func (r *Ready) IsDaemon() bool { return r != nil && r.f != nil }

// OK reports success.
func (r *Ready) OK() { r.OKAt("") }

// OKAt reports success with the mountpoint, for a parent that did not
// choose it (an automatic mountpoint): DaemonizeMount returns it.
func (r *Ready) OKAt(mountpoint string) {
	daemon.SdNotify(false, daemon.SdNotifyReady)
	if r.IsDaemon() {
		if mountpoint == "" {
			fmt.Fprintln(r.f, "READY")
		} else {
			fmt.Fprintln(r.f, "READY "+strconv.Quote(mountpoint))
		}
		r.f.Close()
		r.f = nil
	}
}

// Fail reports why the mount failed, with the exit code the parent
// should return.
func (r *Ready) Fail(code int, err error) {
	if r.IsDaemon() {
		fmt.Fprintf(r.f, "ERROR %d %s\n", code, strings.ReplaceAll(err.Error(), "\n", " "))
		r.f.Close()
		r.f = nil
	}
}

// Signals starts catching SIGTERM, SIGINT and SIGHUP for Serve. Call it
// before mounting: a signal that arrives while the mount is being set up
// then waits for Serve instead of killing the process halfway (which
// leaves a stale mount). SIGHUP too: a foreground mount whose terminal
// goes away would otherwise die the same way.
func Signals() chan os.Signal {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return sig
}

// Serve waits until m is unmounted, unmounting it on SIGTERM, SIGINT,
// SIGHUP or ctx's end. If files are open the mount is detached lazily and served
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
