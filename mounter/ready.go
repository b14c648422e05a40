package mounter

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
)

// EnvReadyFD marks a re-executed daemon child: it names the pipe (a file
// descriptor number on Unix, a handle on Windows) on which the child
// reports "READY" or "ERROR <code> <reason>".
const EnvReadyFD = "ISOFSD_READY_FD"

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
	return &Ready{f: readyFile(s)}
}

// IsDaemon reports whether a parent waits for our verdict.
func (r *Ready) IsDaemon() bool { return r != nil && r.f != nil }

// OK reports success.
func (r *Ready) OK() { r.OKAt("") }

// OKAt reports success with the mountpoint, for a parent that did not
// choose it (an automatic mountpoint, a free drive letter):
// DaemonizeMount returns it.
func (r *Ready) OKAt(mountpoint string) {
	daemon.SdNotify(false, daemon.SdNotifyReady)
	r.TellParent(mountpoint)
}

// TellParent reports success to a waiting parent only (the daemon tells
// systemd itself).
func (r *Ready) TellParent(mountpoint string) {
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
