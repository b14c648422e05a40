//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// nginxServer is a real nginx serving dir on a loopback port.
type nginxServer struct {
	t      *testing.T
	prefix string
	port   int
	cmd    *exec.Cmd
}

// startNginx runs nginx in the foreground with a config of its own.
func startNginx(t *testing.T, root string) *nginxServer {
	t.Helper()
	isotest.RequireTool(t, "nginx")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	prefix := t.TempDir()
	// Test directories are private to root: let the worker read them.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	conf := fmt.Sprintf(`daemon off;
%[4]s
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/cb; proxy_temp_path %[1]s/px; fastcgi_temp_path %[1]s/fc;
  uwsgi_temp_path %[1]s/uw; scgi_temp_path %[1]s/sc;
  server { listen 127.0.0.1:%[2]d; root %[3]s; }
}
`, prefix, port, root, user)
	must(t, os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644))
	s := &nginxServer{t: t, prefix: prefix, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *nginxServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("nginx", "-c", filepath.Join(s.prefix, "nginx.conf"), "-p", s.prefix)
	must(s.t, s.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nginx did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *nginxServer) stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}
}

func (s *nginxServer) url(name string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", s.port, name)
}

// TestRemoteMount mounts an image served by nginx over HTTP range
// requests: content equals the local files; with the server stopped an
// unread file gives EIO and a log line while the mount stays alive; once
// the server is back the same file reads correctly.
func TestRemoteMount(t *testing.T) {
	img := smallImage(t)
	src := filepath.Join(filepath.Dir(img), "src")
	www := t.TempDir()
	must(t, os.Link(img, filepath.Join(www, "small.iso")))
	srv := startNginx(t, www)
	mp := newMountpoint(t)
	_, logBuf := foreground(t, srv.url("small.iso"), mp)
	if !isMounted(t, mp) {
		t.Fatal("not mounted")
	}
	want := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(src, name))
		must(t, err)
		return b
	}
	for _, name := range []string{"a.bin", "b.bin"} {
		got, err := os.ReadFile(filepath.Join(mp, name))
		if err != nil || !bytes.Equal(got, want(name)) {
			t.Fatalf("%s over HTTP: %v (%d bytes)", name, err, len(got))
		}
	}

	srv.stop()
	_, err := os.ReadFile(filepath.Join(mp, "tail.bin"))
	if err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("reading with the server down: %v, want EIO", err)
	}
	if !isMounted(t, mp) {
		t.Fatal("the mount died with the server")
	}
	if !strings.Contains(logBuf.String(), "tail.bin") {
		t.Errorf("no log line names the failed file:\n%s", logBuf.String())
	}
	// Data read before stays served (kernel page cache or the source's).
	if got, err := os.ReadFile(filepath.Join(mp, "a.bin")); err != nil || !bytes.Equal(got, want("a.bin")) {
		t.Errorf("a.bin with the server down: %v", err)
	}

	srv.start()
	got, err := os.ReadFile(filepath.Join(mp, "tail.bin"))
	if err != nil || !bytes.Equal(got, want("tail.bin")) {
		t.Fatalf("tail.bin after the server came back: %v (%d bytes)", err, len(got))
	}
	must(t, syscall.Unmount(mp, 0))
}

// TestRemoteNoRange: a server that ignores Range is refused with a clear
// error before anything is mounted.
func TestRemoteNoRange(t *testing.T) {
	isotest.RequireFUSE(t)
	img := smallImage(t)
	// python3's http.server answers every GET with the whole file.
	isotest.RequireTool(t, "python3")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	py := exec.Command("python3", "-m", "http.server", fmt.Sprint(port), "--bind", "127.0.0.1", "--directory", filepath.Dir(img))
	must(t, py.Start())
	t.Cleanup(func() { py.Process.Kill(); py.Wait() })
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mp := newMountpoint(t)
	out, code := run(t, "mount", fmt.Sprintf("http://127.0.0.1:%d/small.iso", port), mp)
	if code != 2 || !strings.Contains(out, "range") {
		t.Fatalf("exit %d, output %q: want exit 2 naming range support", code, out)
	}
	if isMounted(t, mp) {
		t.Fatal("mounted anyway")
	}
}
