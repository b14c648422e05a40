// Package nginxtest runs a real nginx for tests: single-process (so that
// killing it drops every connection at once), serving a directory on a
// loopback port, with an access log of what it sent. Tests of HTTP range
// reading, downloads and repairs count their transfers from that log.
package nginxtest

import (
	"bufio"
	"fmt"
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
)

// Server is a running nginx.
type Server struct {
	t    testing.TB
	bin  string
	dir  string // config, logs, pid
	Root string // the directory served
	Addr string // the loopback address listened on
	Port int
	// logged are the request headers HeaderLog reports.
	logged []string
	// mu orders Start and Stop: tests stop nginx from another goroutine
	// (to cut a transfer mid-way) and start it again.
	mu  sync.Mutex
	cmd *exec.Cmd
}

// LogLine is one access-log record.
type LogLine struct {
	Status    int
	BytesSent int64 // headers + body
	BodyBytes int64
	Range     string // the request's Range header
	Path      string // the request's path
}

// Binary returns nginx's path, or "" if it is not installed (Debian puts
// it in /usr/sbin, which a normal user's PATH may lack).
func Binary() string {
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Config adds to what Start serves.
type Config struct {
	// Addr is the loopback address to listen on (default 127.0.0.1;
	// 127.0.0.2 is another host to a client).
	Addr string
	// Locations are extra location blocks of the server, e.g.
	// `location /off/ { return 302 http://127.0.0.2:8080/img.iso; }`.
	Locations []string
	// LogHeaders names request headers HeaderLog reports.
	LogHeaders []string
}

// HeaderLine is one request with the values of Config.LogHeaders ("-"
// when absent, as nginx logs it).
type HeaderLine struct {
	Path   string
	Values map[string]string
}

// Start serves root until the test ends (or Stop). It skips the test
// when nginx is not installed.
func Start(t testing.TB, root string) *Server {
	t.Helper()
	return StartConfig(t, root, Config{})
}

// StartConfig is Start with additions.
func StartConfig(t testing.TB, root string, c Config) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("nginx not installed: the HTTP tests need a real nginx (apt-get install nginx-light)")
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(c.Addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	// Test directories are private to root: let the worker read them.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	// One more access log for the headers asked for, so that the main
	// one keeps the format Log parses.
	hdrFormat := `'"$uri"`
	for _, h := range c.LogHeaders {
		hdrFormat += ` "$http_` + strings.ReplaceAll(strings.ToLower(h), "-", "_") + `"`
	}
	hdrFormat += `'`
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 512; }
http {
	log_format bytes '$status $bytes_sent $body_bytes_sent "$http_range" "$uri"';
	access_log %[2]s/access.log bytes;
	log_format hdrs %[5]s;
	access_log %[2]s/headers.log hdrs;
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
		listen %[6]s;
		root %[4]s;
		location / { }
		%[7]s
	}
}
`, user, dir, port, root, hdrFormat, net.JoinHostPort(c.Addr, strconv.Itoa(port)), strings.Join(c.Locations, "\n\t\t"))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: dir, Root: root, Addr: c.Addr, Port: port, logged: c.LogHeaders}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts nginx again after Stop, on the same port.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "-e", filepath.Join(s.dir, "error.log"), "-p", s.dir, "-c", filepath.Join(s.dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting nginx: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			s.t.Fatalf("nginx did not start listening on port %d: %v\n%s", s.Port, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills nginx abruptly: in-flight responses are cut.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// URL is the URL of name under the served directory.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("http://%s/%s", net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)), name)
}

// HeaderLog returns every request so far with the headers of
// Config.LogHeaders.
func (s *Server) HeaderLog() []HeaderLine {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "headers.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	var out []HeaderLine
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(strings.Trim(line, `"`), `" "`)
		if len(f) != len(s.logged)+1 {
			s.t.Fatalf("header log line %q", line)
		}
		l := HeaderLine{Path: f[0], Values: map[string]string{}}
		for i, h := range s.logged {
			l.Values[h] = f[i+1]
		}
		out = append(out, l)
	}
	return out
}

// Log returns all access-log records so far.
func (s *Server) Log() []LogLine {
	s.t.Helper()
	f, err := os.Open(filepath.Join(s.dir, "access.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []LogLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) < 4 {
			s.t.Fatalf("access log line %q", sc.Text())
		}
		var l LogLine
		l.Status, _ = strconv.Atoi(fields[0])
		l.BytesSent, _ = strconv.ParseInt(fields[1], 10, 64)
		l.BodyBytes, _ = strconv.ParseInt(fields[2], 10, 64)
		rest := fields[3]
		if q := strings.Index(rest, `" "`); q >= 0 {
			l.Range, l.Path = strings.Trim(rest[:q+1], `"`), strings.Trim(rest[q+2:], `"`)
		} else {
			l.Range = strings.Trim(rest, `"`)
		}
		out = append(out, l)
	}
	return out
}

// Since sums the records after the first skip ones.
func (s *Server) Since(skip int) (requests int, bytesSent, bodyBytes int64) {
	all := s.Log()
	for _, l := range all[min(skip, len(all)):] {
		requests++
		bytesSent += l.BytesSent
		bodyBytes += l.BodyBytes
	}
	return
}
