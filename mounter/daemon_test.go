//go:build linux

package mounter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// requireFUSE skips tests that need real FUSE mounts, and xorriso to
// build their images.
func requireFUSE(t testing.TB) {
	t.Helper()
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
}

// makeISO builds a Rock Ridge image whose files are name → content.
func makeISO(t testing.TB, out string, files map[string]string) {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
}

// testLog collects the daemon's log for failure messages.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// runningDaemon is a daemon served by the test.
type runningDaemon struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
	log    *testLog
	notes  chan string
}

func startDaemon(t *testing.T, o DaemonOptions) *runningDaemon {
	t.Helper()
	rd := &runningDaemon{log: &testLog{}, done: make(chan error, 1), notes: make(chan string, 16)}
	l := logrus.New()
	l.SetOutput(rd.log)
	l.SetLevel(logrus.DebugLevel)
	o.Log = l
	o.Notify = func(s string) {
		select {
		case rd.notes <- s:
		default:
		}
	}
	d, err := NewDaemon(o)
	if err != nil {
		t.Fatal(err)
	}
	rd.d = d
	ctx, cancel := context.WithCancel(context.Background())
	rd.cancel = cancel
	go func() { rd.done <- d.Run(ctx) }()
	select {
	case n := <-rd.notes:
		if n != "READY=1" {
			t.Fatalf("first notification %q, want READY=1", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon not ready\n%s", rd.log)
	}
	t.Cleanup(func() { rd.stop(t) })
	return rd
}

// stop shuts the daemon down and checks that nothing stays mounted.
func (rd *runningDaemon) stop(t *testing.T) {
	t.Helper()
	if rd.cancel == nil {
		return
	}
	mps := rd.d.List()
	rd.cancel()
	rd.cancel = nil
	select {
	case err := <-rd.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop\n%s", rd.log)
	}
	for _, m := range mps {
		if _, ok, _ := FindMount(m.Mountpoint); ok {
			t.Errorf("%s still mounted after shutdown", m.Mountpoint)
			Unmount(m.Mountpoint, true)
		}
	}
	if _, err := os.Stat(rd.d.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// call sends one request line and returns the response.
func call(t *testing.T, sock string, line string) *ctlproto.Response {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	b, err := ctlproto.ReadLine(bufio.NewReader(c), ctlproto.MaxMessage)
	if err != nil {
		t.Fatalf("reading response to %.60q: %v", line, err)
	}
	resp, err := ctlproto.DecodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func mountReq(image, mp string) string {
	return fmt.Sprintf(`{"version":1,"op":"mount","mount":{"image":%q,"mountpoint":%q}}`, image, mp)
}

// readFile reads a file on a mount this test process serves through
// another process: opening a regular file registers it with the Go
// runtime's epoll, whose FUSE poll request cannot be answered if a
// garbage collection stops the world meanwhile (go-fuse's poll hack
// prevents that only once mounting has finished).
func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := exec.Command("cat", p).Output()
	if err != nil {
		t.Fatalf("cat %s: %v", p, err)
	}
	return string(b)
}

// TestDaemonThreeMounts mounts three images, lists them, unmounts one
// and checks the other two keep serving.
func TestDaemonThreeMounts(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rd := startDaemon(t, DaemonOptions{Socket: sock})
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v mode %v, want a 0600 socket", err, st.Mode())
	}
	var mps []string
	for i := range 3 {
		img := filepath.Join(dir, fmt.Sprintf("img%d.iso", i))
		makeISO(t, img, map[string]string{"hello.txt": fmt.Sprintf("image %d\n", i), "sub/deep.txt": strings.Repeat("x", 5000+i)})
		mp := filepath.Join(dir, fmt.Sprintf("mnt%d", i))
		os.Mkdir(mp, 0o755)
		resp := call(t, sock, mountReq(img, mp))
		if !resp.OK || resp.Mount == nil || resp.Mount.Mountpoint != mp || resp.Mount.Tree != "rockridge" {
			t.Fatalf("mount %d: %+v %+v\n%s", i, resp, resp.Error, rd.log)
		}
		mps = append(mps, mp)
	}
	// Mounting on a mountpoint the daemon already serves is refused.
	if resp := call(t, sock, mountReq(filepath.Join(dir, "img0.iso"), mps[0])); resp.OK || resp.Error.Code != ctlproto.CodeBusy {
		t.Errorf("second mount on %s: %+v", mps[0], resp.Error)
	}
	for i, mp := range mps {
		if got := readFile(t, filepath.Join(mp, "hello.txt")); got != fmt.Sprintf("image %d\n", i) {
			t.Errorf("%s: hello.txt = %q", mp, got)
		}
	}
	resp := call(t, sock, `{"version":1,"op":"list"}`)
	if len(resp.Mounts) != 3 {
		t.Fatalf("list: %+v", resp.Mounts)
	}
	for i, m := range resp.Mounts {
		// Counted once the mount exposes BytesRead (-1 before): at
		// least the file read above went through the daemon.
		if m.BytesRead != -1 && m.BytesRead < int64(len("image 0\n")) {
			t.Errorf("%s: bytes read %d after reading a file", m.Mountpoint, m.BytesRead)
		}
		if m.Mountpoint != mps[i] || m.Image != filepath.Join(dir, fmt.Sprintf("img%d.iso", i)) || m.Origin != "client" ||
			m.Since.IsZero() || m.CacheHits+m.CacheMisses == 0 {
			t.Errorf("list entry %d: %+v", i, m)
		}
	}
	if resp := call(t, sock, fmt.Sprintf(`{"version":1,"op":"unmount","mountpoint":%q}`, mps[1])); !resp.OK {
		t.Fatalf("unmount: %+v", resp.Error)
	}
	if _, ok, _ := FindMount(mps[1]); ok {
		t.Errorf("%s still mounted", mps[1])
	}
	if resp := call(t, sock, fmt.Sprintf(`{"version":1,"op":"unmount","mountpoint":%q}`, mps[1])); resp.OK || resp.Error.Code != ctlproto.CodeNotFound {
		t.Errorf("second unmount: %+v", resp.Error)
	}
	for _, i := range []int{0, 2} {
		if got := readFile(t, filepath.Join(mps[i], "sub/deep.txt")); len(got) != 5000+i {
			t.Errorf("%s keeps serving: got %d bytes", mps[i], len(got))
		}
	}
	resp = call(t, sock, `{"version":1,"op":"status"}`)
	if resp.Status == nil || resp.Status.Mounts != 2 || resp.Status.PID != os.Getpid() || resp.Status.Socket != sock {
		t.Errorf("status: %+v", resp.Status)
	}
	// The state file lists the live mounts for a successor.
	stf, err := readState(StatePath(sock))
	if err != nil || len(stf.Mounts) != 2 || stf.Mounts[0].Mountpoint != mps[0] || stf.Mounts[1].Mountpoint != mps[2] {
		t.Errorf("state file: %+v %v", stf, err)
	}
	rd.stop(t)
	if _, err := os.Stat(StatePath(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after a clean shutdown: %v", err)
	}
}

// TestDaemonBadRequests sends malformed and hostile requests: each gets
// an error response (or the connection is closed for oversize input)
// and the daemon keeps serving.
func TestDaemonBadRequests(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	startDaemon(t, DaemonOptions{Socket: sock})
	img := filepath.Join(dir, "a.iso")
	makeISO(t, img, map[string]string{"f": "data"})
	notISO := filepath.Join(dir, "not.iso")
	os.WriteFile(notISO, bytes.Repeat([]byte{0xAA}, 100000), 0o644)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct{ line, code string }{
		{`garbage`, ctlproto.CodeBadRequest},
		{`{"version":1,"op":"list"`, ctlproto.CodeBadRequest},
		{`{"version":7,"op":"list"}`, ctlproto.CodeVersion},
		{`{"version":1,"op":"reboot"}`, ctlproto.CodeUnknownOp},
		{`{"version":1,"op":"mount","mount":{"image":"rel.iso","mountpoint":"/x"}}`, ctlproto.CodeBadRequest},
		{mountReq(filepath.Join(dir, "missing.iso"), mp), ctlproto.CodeImage},
		{mountReq(notISO, mp), ctlproto.CodeImage},
		{mountReq(img, filepath.Join(dir, "nodir")), ctlproto.CodeMountpoint},
		{mountReq(img, file), ctlproto.CodeMountpoint},
		{`{"version":1,"op":"unmount","mountpoint":"/nonexistent"}`, ctlproto.CodeNotFound},
	} {
		resp := call(t, sock, tc.line)
		if resp.OK || resp.Error.Code != tc.code {
			t.Errorf("%.70s: got %+v, want code %s", tc.line, resp.Error, tc.code)
		}
	}
	// Oversize request: an error, then the connection closes.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { c.Write(bytes.Repeat([]byte("x"), ctlproto.MaxRequest*3)) }()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(rest), ctlproto.CodeTooLarge) {
		t.Errorf("oversize request: got %q", rest)
	}
	// Several requests on one connection.
	c, err = net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 3 {
		if _, err := ctlproto.Call(c, br, &ctlproto.Request{Op: ctlproto.OpStatus}); err != nil {
			t.Fatal(err)
		}
	}
	// After all that, a good mount still works.
	if resp := call(t, sock, mountReq(img, mp)); !resp.OK {
		t.Fatalf("mount after bad requests: %+v", resp.Error)
	}
	if got := readFile(t, filepath.Join(mp, "f")); got != "data" {
		t.Errorf("got %q", got)
	}
}

// TestDaemonClientKilledMidRequest drops connections half-way through a
// request line and right after sending a mount request; the daemon must
// go on serving, and a mount made for a vanished client stays listed.
func TestDaemonClientKilledMidRequest(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rd := startDaemon(t, DaemonOptions{Socket: sock})
	img := filepath.Join(dir, "a.iso")
	makeISO(t, img, map[string]string{"f": "data"})
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)

	// Separate processes killed (SIGKILL) while their request is half
	// written, and right after sending a full mount request, before the
	// answer comes.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("/usr/bin/python3 not installed: needed as a killable client")
	}
	client := `import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode())
print("sent", flush=True); time.sleep(60)`
	for _, payload := range []string{`{"version":1,"op":"mou`, mountReq(img, mp) + "\n"} {
		cmd := exec.Command(py, "-c", client, sock, payload)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "sent\n" {
			t.Fatalf("client: %q", line)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := call(t, sock, `{"version":1,"op":"list"}`)
		if len(resp.Mounts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount of the vanished client never appeared\n%s", rd.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readFile(t, filepath.Join(mp, "f")); got != "data" {
		t.Errorf("got %q", got)
	}
}

// TestSecondDaemonRefuses starts a second daemon on the same socket,
// then checks a stale socket file (no daemon) is replaced.
func TestSecondDaemonRefuses(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rd := startDaemon(t, DaemonOptions{Socket: sock})
	_, err := NewDaemon(DaemonOptions{Socket: sock, Log: logrus.New()})
	if !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("second daemon: got %v, want ErrDaemonRunning", err)
	}
	if resp := call(t, sock, `{"version":1,"op":"status"}`); !resp.OK {
		t.Fatal("first daemon hurt by the second's attempt")
	}
	rd.stop(t)

	// A socket file nobody listens on (a daemon killed with -9).
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatal("stale socket not in place")
	}
	rd = startDaemon(t, DaemonOptions{Socket: sock})
	if resp := call(t, sock, `{"version":1,"op":"status"}`); !resp.OK || resp.Status.PID != os.Getpid() {
		t.Fatal("daemon on a stale socket does not answer")
	}
	if !strings.Contains(rd.log.String(), "stale control socket") {
		t.Errorf("stale socket removal not logged:\n%s", rd.log)
	}
}

// TestPeerCredentials connects as another user (when root can switch):
// the daemon refuses with a permission error.
func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	// A system python: the one in PATH may live in root's home, which
	// nobody cannot enter.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("/usr/bin/python3 not installed")
	}
	// t.TempDir's parent is private; nobody must reach the socket.
	dir, err := os.MkdirTemp("", "isofsd-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "ctl.sock")
	startDaemon(t, DaemonOptions{Socket: sock})
	// The socket is 0600: make it reachable so that the credential
	// check itself is what refuses.
	os.Chmod(sock, 0o666)
	script := `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try: s.sendall(b'{"version":1,"op":"list"}\n')
except OSError: pass  # refused peers are answered and dropped at once
print(s.makefile().readline())`
	cmd := exec.Command(py, "-c", script, sock)
	cmd.SysProcAttr = nobody()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"code":"permission"`) {
		t.Errorf("another user's request: got %s", out)
	}
}

// TestDaemonNotifications checks the supervisor protocol: READY=1 once
// serving, WATCHDOG=1 at half the interval systemd asks for, STOPPING=1
// on shutdown.
func TestDaemonNotifications(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(t.TempDir(), "ctl.sock")})
	deadline := time.After(5 * time.Second)
	pings := 0
	for pings < 2 {
		select {
		case n := <-rd.notes:
			if n != "WATCHDOG=1" {
				t.Fatalf("unexpected notification %q", n)
			}
			pings++
		case <-deadline:
			t.Fatalf("got %d watchdog pings in 5s with a 200ms interval", pings)
		}
	}
	rd.stop(t)
	var last string
	for len(rd.notes) > 0 {
		last = <-rd.notes
		if last == "STOPPING=1" {
			return
		}
	}
	t.Errorf("no STOPPING=1 at shutdown (last %q)", last)
}

// TestSocketDirChecks refuses socket directories others control.
func TestSocketDirChecks(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	must(t, os.Mkdir(open, 0o777))
	must(t, os.Chmod(open, 0o777))
	if _, err := NewDaemon(DaemonOptions{Socket: filepath.Join(open, "s.sock"), Log: logrus.New()}); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable directory: %v", err)
	}
	sticky := filepath.Join(base, "sticky")
	must(t, os.Mkdir(sticky, 0o777))
	must(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	d, err := NewDaemon(DaemonOptions{Socket: filepath.Join(sticky, "s.sock"), Log: logrus.New()})
	if err != nil {
		t.Errorf("sticky directory (like /tmp): %v", err)
	} else {
		d.shutdown()
	}
	if os.Geteuid() == 0 {
		theirs := filepath.Join(base, "theirs")
		must(t, os.Mkdir(theirs, 0o700))
		must(t, os.Chown(theirs, 65534, 65534))
		if _, err := NewDaemon(DaemonOptions{Socket: filepath.Join(theirs, "s.sock"), Log: logrus.New()}); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("directory of another user: %v", err)
		}
	}
}

// TestClearStaleMountsSparesLiveOnes: a state file naming a mount that is
// alive (someone mounted there since) must not take it down; an
// unreadable state file is moved aside.
func TestClearStaleMountsSparesLiveOnes(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(dir, "a.sock")})
	img := filepath.Join(dir, "a.iso")
	makeISO(t, img, map[string]string{"f": "x"})
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	if resp := call(t, rd.d.Socket(), mountReq(img, mp)); !resp.OK {
		t.Fatal(resp.Error)
	}
	other := StatePath(filepath.Join(dir, "b.sock"))
	must(t, writeState(other, &DaemonState{PID: 1, Mounts: []StateMount{{Mountpoint: mp, Image: img, Created: true}}}))
	cleared, err := clearStaleMounts(other, rd.d.log)
	if err != nil || len(cleared) != 0 || !mounted(mp) {
		t.Fatalf("live mount touched: cleared %v, err %v, mounted %v", cleared, err, mounted(mp))
	}
	must(t, os.WriteFile(other, []byte("{not json"), 0o600))
	if cleared, err := clearStaleMounts(other, rd.d.log); err != nil || cleared != nil {
		t.Errorf("corrupt state: %v %v", cleared, err)
	}
	if _, err := os.Stat(other + ".bad"); err != nil {
		t.Errorf("corrupt state file not moved aside: %v", err)
	}
}

// TestDaemonRelativePaths: --watch, --mount-root and a local --url-list
// given relative to where the daemon was started still name those
// directories once it has moved to / (they were resolved after the move,
// so a relative --watch watched a directory under /).
func TestDaemonRelativePaths(t *testing.T) {
	base := t.TempDir()
	must(t, os.Mkdir(filepath.Join(base, "images"), 0o755))
	wd, err := os.Getwd()
	must(t, err)
	must(t, os.Chdir(base))
	defer os.Chdir(wd)
	d, err := NewDaemon(DaemonOptions{Socket: filepath.Join(base, "d.sock"), Watch: "images", MountRoot: "mnt",
		URLList: "urls.txt", Log: logrus.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.shutdown()
	for got, want := range map[string]string{d.opts.Watch: "images", d.opts.MountRoot: "mnt", d.opts.URLList: "urls.txt"} {
		if got != filepath.Join(base, want) {
			t.Errorf("%s resolved to %q, want %q", want, got, filepath.Join(base, want))
		}
	}
	if _, err := NewDaemon(DaemonOptions{Socket: filepath.Join(base, "e.sock"), URLList: "urls.txt", Log: logrus.New()}); err == nil {
		t.Error("--url-list without --mount-root accepted")
	}
}
