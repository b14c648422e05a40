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
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// TestRemoteMount mounts an image served by nginx over HTTP range
// requests: content equals the local files; with the server stopped an
// unread file gives EIO and a log line while the mount stays alive; once
// the server is back the same file reads correctly.
func TestRemoteMount(t *testing.T) {
	img := smallImage(t)
	src := filepath.Join(filepath.Dir(img), "src")
	www := t.TempDir()
	must(t, os.Link(img, filepath.Join(www, "small.iso")))
	srv := nginxtest.Start(t, www)
	mp := newMountpoint(t)
	_, logBuf := foreground(t, srv.URL("small.iso"), mp)
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

	srv.Stop()
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

	srv.Start()
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
