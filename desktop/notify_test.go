package desktop

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestWantNotify(t *testing.T) {
	rt := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		tty  []int
		want bool
	}{
		{"desktop launch", map[string]string{"DISPLAY": ":0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, nil, true},
		{"wayland", map[string]string{"WAYLAND_DISPLAY": "wayland-0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, nil, true},
		{"terminal", map[string]string{"DISPLAY": ":0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, []int{0, 1, 2}, false},
		{"stderr on a terminal", map[string]string{"DISPLAY": ":0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, []int{2}, false},
		{"output piped from a terminal", map[string]string{"DISPLAY": ":0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, []int{0}, false},
		{"no display (cron, ssh, a service)", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, nil, false},
		{"no bus", map[string]string{"DISPLAY": ":0", "XDG_RUNTIME_DIR": rt}, nil, false},
		{"forced", map[string]string{EnvNotify: "always"}, []int{0, 1, 2}, true},
		{"silenced", map[string]string{EnvNotify: "never", "DISPLAY": ":0", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, nil, false},
	} {
		got := WantNotify(func(k string) string { return tc.env[k] }, func(fd int) bool { return slices.Contains(tc.tty, fd) })
		if got != tc.want {
			t.Errorf("%s: WantNotify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// notifyServer records Notify calls: an org.freedesktop.Notifications
// server on a real bus.
type notifyServer struct {
	mu   sync.Mutex
	got  []Notification
	caps []string
}

// GetCapabilities says what the server renders.
func (s *notifyServer) GetCapabilities() ([]string, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.caps), nil
}

func (s *notifyServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	crit := false
	if u, ok := hints["urgency"].Value().(byte); ok && u == 2 {
		crit = true
	}
	s.got = append(s.got, Notification{Summary: summary, Body: body, Icon: icon, Critical: crit})
	if app != "isofsd" {
		return 0, dbus.MakeFailedError(errors.New("wrong app name " + app))
	}
	return uint32(len(s.got)), nil
}

// startBus runs a private session bus (dbus-daemon) for the test.
func startBus(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed")
	}
	cmd := exec.Command(p, "--session", "--nofork", "--print-address", "--address=unix:path="+filepath.Join(t.TempDir(), "bus"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon gave no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// TestNotify sends notifications through a real bus to a recording
// server, and fails cleanly when no server owns the name.
func TestNotify(t *testing.T) {
	addr := startBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	ctx := context.Background()
	if _, err := Notify(ctx, Notification{Summary: "nobody listens"}); err == nil {
		t.Error("Notify without a notification server succeeded")
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := &notifyServer{}
	if err := conn.Export(srv, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
	start := time.Now()
	id, err := Notify(ctx, Notification{Summary: "Mounted DEMO", Body: "demo.iso is mounted read-only at /media/u/DEMO"})
	if err != nil || id != 1 {
		t.Fatalf("Notify: id %d, %v", id, err)
	}
	if _, err := Notify(ctx, Notification{Summary: "isofsd verify failed", Body: "x: damaged", Icon: "dialog-error", Critical: true}); err != nil {
		t.Fatal(err)
	}
	t.Logf("two notifications in %v", time.Since(start))
	// Review S8: names from images and other users reach the body; a
	// server reading markup must get them as text.
	hostile := "<b>x</b> & <a href=\"file:///etc/shadow\">open</a> <img src=\"/tmp/i.png\"/>\x1b]0;t\x07\n2nd line"
	srv.mu.Lock()
	srv.caps = []string{"body", "body-markup", "body-hyperlinks"}
	srv.mu.Unlock()
	if _, err := Notify(ctx, Notification{Summary: "Mounted <i>x</i>", Body: hostile}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.caps = []string{"body"}
	srv.mu.Unlock()
	if _, err := Notify(ctx, Notification{Summary: "plain", Body: hostile}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	want := []Notification{
		{Summary: "Mounted DEMO", Body: "demo.iso is mounted read-only at /media/u/DEMO", Icon: "media-optical"},
		{Summary: "isofsd verify failed", Body: "x: damaged", Icon: "dialog-error", Critical: true},
		{Summary: "Mounted <i>x</i>", Body: "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=\"file:///etc/shadow\"&gt;open&lt;/a&gt; &lt;img src=\"/tmp/i.png\"/&gt;]0;t\n2nd line", Icon: "media-optical"},
		{Summary: "plain", Body: "<b>x</b> & <a href=\"file:///etc/shadow\">open</a> <img src=\"/tmp/i.png\"/>]0;t\n2nd line", Icon: "media-optical"},
	}
	if !slices.Equal(srv.got, want) {
		t.Errorf("server got\n%+v\nwant\n%+v", srv.got, want)
	}
}

func TestNotifyWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	if _, err := Notify(context.Background(), Notification{Summary: "x"}); !errors.Is(err, ErrNoBus) {
		t.Errorf("Notify without a bus: %v, want ErrNoBus", err)
	}
	// A socket named bus in the runtime directory is the bus (a plain
	// file is not).
	rt := t.TempDir()
	env := func(k string) string { return map[string]string{"XDG_RUNTIME_DIR": rt}[k] }
	if err := os.WriteFile(filepath.Join(rt, "bus"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := sessionBusAddress(env); got != "" {
		t.Errorf("a plain file taken for the bus: %q", got)
	}
	os.Remove(filepath.Join(rt, "bus"))
	ln, err := net.Listen("unix", filepath.Join(rt, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := sessionBusAddress(env); got != "unix:path="+filepath.Join(rt, "bus") {
		t.Errorf("session bus address from XDG_RUNTIME_DIR: %q", got)
	}
}

func TestTerminalCommand(t *testing.T) {
	have := func(names ...string) func(string) (string, error) {
		return func(n string) (string, error) {
			if slices.Contains(names, n) {
				return "/usr/bin/" + n, nil
			}
			return "", exec.ErrNotFound
		}
	}
	argv := []string{"/usr/bin/isofsd", "desktop", "write-usb", "/srv/x.iso"}
	for _, tc := range []struct {
		terminal string
		have     []string
		want     []string
	}{
		{"", []string{"xterm", "x-terminal-emulator"}, []string{"/usr/bin/x-terminal-emulator", "-e"}},
		{"", []string{"xterm", "gnome-terminal"}, []string{"/usr/bin/gnome-terminal", "--"}},
		{"", []string{"xterm", "xdg-terminal-exec"}, []string{"/usr/bin/xdg-terminal-exec"}},
		{"kitty", []string{"kitty", "xterm"}, []string{"/usr/bin/kitty", "-e"}},
		{"missing", []string{"xfce4-terminal"}, []string{"/usr/bin/xfce4-terminal", "-x"}},
	} {
		got, err := TerminalCommand(argv, func(k string) string { return map[string]string{"TERMINAL": tc.terminal}[k] }, have(tc.have...))
		if err != nil || !slices.Equal(got, append(tc.want, argv...)) {
			t.Errorf("TERMINAL=%q with %q: %q %v, want %q", tc.terminal, tc.have, got, err, append(tc.want, argv...))
		}
	}
	if _, err := TerminalCommand(argv, func(string) string { return "" }, have()); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("no terminal: %v", err)
	}
}
