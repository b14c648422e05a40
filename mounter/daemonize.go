package mounter

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// readyTimeout bounds how long the parent waits for the child's verdict.
const readyTimeout = 60 * time.Second

// Daemonize re-executes the running binary with args, detached (a new
// session on Unix, a detached process on Windows), with stdin/stdout/
// stderr on the null device (or logFile for the latter two), and returns
// once the child reports that it is ready — or its reason for failing.
// The child must report through ReadyFromEnv.
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
	cmd.Stdout, cmd.Stderr = out, out
	detach(cmd, w)
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
			return "", parseDaemonError(strings.TrimPrefix(v, "ERROR "))
		default:
			err := <-exited
			return "", fmt.Errorf("the mount daemon exited before the mount was ready (%v)", err)
		}
	case <-time.After(readyTimeout):
		cmd.Process.Kill()
		return "", fmt.Errorf("the mount daemon did not report ready within %v", readyTimeout)
	}
}

// parseDaemonError reads "CODE message" (the code is optional).
func parseDaemonError(s string) *DaemonError {
	de := &DaemonError{Msg: s}
	if c, msg, ok := strings.Cut(s, " "); ok {
		if n, err := strconv.Atoi(c); err == nil {
			de.Code, de.Msg = n, msg
		}
	}
	return de
}
