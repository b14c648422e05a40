package httpsrc

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// nginx is a real nginx serving root on 127.0.0.1, single-process so that
// killing it drops every connection at once.
type nginx struct {
	t    testing.TB
	dir  string // config, logs, pid
	root string
	port int
	cmd  *exec.Cmd
}

// logLine is one access-log record.
type logLine struct {
	status    int
	bytesSent int64 // headers + body
	bodyBytes int64
	rng       string
}

func startNginx(t testing.TB, root string) *nginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Skip("nginx not installed: the HTTP range tests need a real nginx (apt-get install nginx-light)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 512; }
http {
	log_format bytes '$status $bytes_sent $body_bytes_sent "$http_range"';
	access_log %[2]s/access.log bytes;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	keepalive_timeout 60s;
	types { application/octet-stream iso; }
	server {
		listen 127.0.0.1:%[3]d;
		root %[4]s;
		location / { }
	}
}
`, user, dir, port, root)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nginx{t: t, dir: dir, root: root, port: port}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *nginx) start() {
	n.t.Helper()
	cmd := exec.Command("nginx", "-e", filepath.Join(n.dir, "error.log"), "-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting nginx: %v", err)
	}
	n.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			n.t.Fatalf("nginx did not start listening on port %d: %v\n%s", n.port, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills nginx abruptly: in-flight responses are cut.
func (n *nginx) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	n.cmd.Wait()
	n.cmd = nil
}

func (n *nginx) url(name string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", n.port, name)
}

// log returns all access-log records so far.
func (n *nginx) log() []logLine {
	n.t.Helper()
	f, err := os.Open(filepath.Join(n.dir, "access.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) < 4 {
			n.t.Fatalf("access log line %q", sc.Text())
		}
		var l logLine
		l.status, _ = strconv.Atoi(fields[0])
		l.bytesSent, _ = strconv.ParseInt(fields[1], 10, 64)
		l.bodyBytes, _ = strconv.ParseInt(fields[2], 10, 64)
		l.rng = strings.Trim(fields[3], `"`)
		out = append(out, l)
	}
	return out
}

// since sums the records after the first skip ones.
func (n *nginx) since(skip int) (requests int, bytesSent, bodyBytes int64) {
	all := n.log()
	for _, l := range all[min(skip, len(all)):] {
		requests++
		bytesSent += l.bytesSent
		bodyBytes += l.bodyBytes
	}
	return
}

// fixtures are images built once per test binary with xorriso.
var fixtures struct {
	dir string

	smallOnce sync.Once
	small     string
	smallErr  error

	bigOnce sync.Once
	big     string
	bigErr  error
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "httpsrc-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fixtures.dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func writeRandom(t testing.TB, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

func buildISO(t testing.TB, tree, out string, extra ...string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	args := append([]string{"-as", "mkisofs", "-quiet", "-R", "-J", "-V", "HTTPSRC"}, extra...)
	args = append(args, "-o", out, tree)
	if b, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
}

// smallImage is a few MB: nested directories, files of awkward sizes, a
// symlink, and 1 MB / 5 MB random files.
func smallImage(t testing.TB) string {
	t.Helper()
	fixtures.smallOnce.Do(func() {
		tree := filepath.Join(fixtures.dir, "small-tree")
		for _, d := range []string{"a/b/c", "empty", "docs"} {
			os.MkdirAll(filepath.Join(tree, d), 0o755)
		}
		for name, size := range map[string]int64{
			"zero.bin": 0, "one.bin": 1, "a/sector.bin": 2048, "a/odd.bin": 2047, "a/b/c/70k.bin": 70000,
			"docs/1m.bin": 1 << 20, "5m.bin": 5 << 20, "docs/300k.bin": 300 << 10,
		} {
			writeRandom(t, filepath.Join(tree, name), size)
		}
		os.Symlink("a/b/c/70k.bin", filepath.Join(tree, "link"))
		fixtures.small = filepath.Join(fixtures.dir, "small.iso")
		buildISO(t, tree, fixtures.small)
		os.RemoveAll(tree)
	})
	if fixtures.small == "" {
		t.Fatal("small image fixture failed to build")
	}
	return fixtures.small
}

// bigImage is sparse-ish: two files of size/2 bytes, mostly zeros with
// random 64 KiB blocks sprinkled in, around a directory with a 1 MB random
// file and small files, so that those sit in the middle of the image, far
// from both ends.
func bigImage(t testing.TB, name string, size int64) string {
	t.Helper()
	out := filepath.Join(fixtures.dir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	tree := filepath.Join(fixtures.dir, name+"-tree")
	os.MkdirAll(filepath.Join(tree, "dir", "sub"), 0o755)
	for _, n := range []string{"big.bin", "zz.bin"} {
		f, err := os.Create(filepath.Join(tree, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size / 2); err != nil {
			t.Fatal(err)
		}
		blk := make([]byte, 64<<10)
		for off := int64(0); off+int64(len(blk)) <= size/2; off += 97 << 20 {
			rand.Read(blk)
			f.WriteAt(blk, off)
		}
		f.Close()
	}
	writeRandom(t, filepath.Join(tree, "dir", "1m.bin"), 1<<20)
	for i := range 50 {
		writeRandom(t, filepath.Join(tree, "dir", "sub", fmt.Sprintf("f%02d.txt", i)), int64(100+i*37))
	}
	buildISO(t, tree, out)
	os.RemoveAll(tree)
	return out
}

// serve puts a link to image under a fresh nginx root and returns the
// server and the image's URL.
func serve(t testing.TB, image string) (*nginx, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Link(image, filepath.Join(root, "image.iso")); err != nil {
		if err := os.Symlink(image, filepath.Join(root, "image.iso")); err != nil {
			t.Fatal(err)
		}
	}
	n := startNginx(t, root)
	return n, n.url("image.iso")
}
