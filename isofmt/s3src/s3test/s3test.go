//go:build unix

// Package s3test starts a real S3 store for tests: SeaweedFS (`weed
// server -s3`), a distributed object store used in production, on
// loopback ports of its own, with identities (access keys) configured so
// that anonymous requests are refused.
//
// The weed binary is built from SeaweedFS's Go module by .ci/seaweedfs.sh
// into the user's cache directory (≈ 4.5 min on 2 cores, once per
// version); .ci/run does that before the tests and passes its path in
// ISOFSD_WEED. A test finds it there or in the cache; outside CI, when it
// is missing, the test skips saying how to build it (ISOFSD_BUILD_WEED=1
// lets the test build it itself).
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Identities the store knows. Admin may do everything; Reader may only
// read and list.
var (
	Admin  = Key{ID: "ISOFSDADMINKEY000001", Secret: "isofsd-admin-secret-0000000000000000000"}
	Reader = Key{ID: "ISOFSDREADERKEY00001", Secret: "isofsd-reader-secret-000000000000000000"}
)

// Key is an access key pair.
type Key struct{ ID, Secret string }

// Server is a running SeaweedFS with its S3 gateway.
type Server struct {
	// Endpoint is the S3 API's URL (http://127.0.0.1:PORT).
	Endpoint string
	dir      string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	exited   chan struct{} // closed once the process is gone
	// sockets are the unix sockets weed makes in /tmp for its own gRPC
	// (it names them by port and leaves them behind).
	sockets []string
}

func (s *Server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

var buildOnce sync.Once

// Weed returns the path of the weed binary: ISOFSD_WEED, else the cached
// build; missing, it is built when ISOFSD_BUILD_WEED or ISOFSD_CI (set by
// .ci/run) is set — a failed build fails the test — and the test is
// skipped otherwise, saying how to build it.
func Weed(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ISOFSD_WEED"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("ISOFSD_WEED=%s: %v", p, err)
		}
		return p
	}
	script := filepath.Join(repoRoot(t), ".ci", "seaweedfs.sh")
	if out, err := exec.Command("bash", script, "--check").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	if os.Getenv("ISOFSD_BUILD_WEED") == "" && os.Getenv("ISOFSD_CI") == "" {
		t.Skipf("SeaweedFS (weed) is not built: run %s once (≈ 5 min on 2 cores; cached in the user cache directory) or set ISOFSD_BUILD_WEED=1", script)
	}
	var path string
	var err error
	buildOnce.Do(func() {
		t.Logf("building SeaweedFS with %s (≈ 5 min)", script)
		var out []byte
		cmd := exec.Command("bash", script)
		cmd.Stderr = os.Stderr
		out, err = cmd.Output()
		path = strings.TrimSpace(string(out))
	})
	if err != nil || path == "" {
		if out, cerr := exec.Command("bash", script, "--check").Output(); cerr == nil {
			return strings.TrimSpace(string(out))
		}
		t.Fatalf("building SeaweedFS: %v", err)
	}
	return path
}

// repoRoot is the repository's top directory, found from this file.
func repoRoot(t testing.TB) string {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("s3test: runtime.Caller failed")
	}
	return filepath.Join(filepath.Dir(self), "..", "..", "..")
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

var shared struct {
	mu  sync.Mutex
	srv *Server
}

// Shared returns one SeaweedFS for the whole test binary, started by the
// first test that asks (it takes 5–25 s to come up); the package's
// TestMain calls StopShared after m.Run. Tests sharing it use buckets of
// their own.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil || !shared.srv.alive() {
		shared.srv = start(t, os.TempDir())
	}
	return shared.srv
}

// StopShared stops the server Shared started, if any, and removes its
// data.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.stop()
		os.RemoveAll(shared.srv.dir)
		shared.srv = nil
	}
}

// Start runs SeaweedFS (master, volume, filer and S3 gateway in one
// process) until the test ends, and waits until its S3 API answers.
func Start(t testing.TB) *Server {
	t.Helper()
	s := start(t, "")
	t.Cleanup(s.stop)
	return s
}

// start runs a server with its files in a new directory under parent
// ("" for the test's own temporary directory).
func start(t testing.TB, parent string) *Server {
	t.Helper()
	weed := Weed(t)
	dir := t.TempDir()
	if parent != "" {
		var err error
		if dir, err = os.MkdirTemp(parent, "seaweedfs-"); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`{"identities": [
  {"name": "admin", "credentials": [{"accessKey": %q, "secretKey": %q}], "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
  {"name": "reader", "credentials": [{"accessKey": %q, "secretKey": %q}], "actions": ["Read", "List"]}
]}`, Admin.ID, Admin.Secret, Reader.ID, Reader.Secret)
	confPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 8)
	args := []string{"server", "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1", "-dir", data,
		"-master.port", strconv.Itoa(p[0]), "-master.port.grpc", strconv.Itoa(p[1]),
		"-volume.port", strconv.Itoa(p[2]), "-volume.port.grpc", strconv.Itoa(p[3]),
		"-filer.port", strconv.Itoa(p[4]), "-filer.port.grpc", strconv.Itoa(p[5]),
		"-filer.localSocket", filepath.Join(dir, "filer.sock"), "-s3.localSocket", filepath.Join(dir, "s3.sock"),
		"-s3", "-s3.port", strconv.Itoa(p[6]), "-s3.port.grpc", strconv.Itoa(p[7]),
		"-s3.port.iceberg", "0", "-s3.port.lance", "0", "-s3.config", confPath,
		// Small volumes (the test images are a few MB; the default is
		// 30 GB). Each bucket is a collection that grows several volumes
		// of its own, so their number is left to the free space (0):
		// a fixed 16 ran out with three buckets and uploads failed with
		// InternalError. Volumes are not preallocated.
		"-master.volumeSizeLimitMB", "64", "-volume.max", "0",
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", p[6]), dir: dir, log: &bytes.Buffer{}, exited: make(chan struct{})}
	for i, svc := range []string{"master", "volume", "filer", "s3"} {
		s.sockets = append(s.sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", svc, p[2*i+1]))
	}
	s.cmd = exec.Command(weed, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{w: s.log}, &lockedWriter{w: s.log}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting weed: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	c := s.Client(t, Admin)
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			break
		}
		if !s.alive() || time.Now().After(deadline) {
			s.stop()
			t.Fatalf("SeaweedFS S3 did not come up at %s: %v\n%s", s.Endpoint, err, s.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

// lockedWriter serialises the process's two output streams.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	lw := s.cmd.Stdout.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.String()
}

func (s *Server) stop() {
	if !s.alive() {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	for _, sock := range s.sockets {
		os.Remove(sock)
	}
}

// Client is an S3 client of the store signing with key k.
func (s *Server) Client(t testing.TB, k Key) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(k.ID, k.Secret, ""),
		// Plain uploads, which every S3-compatible store takes.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Env is the environment that makes the AWS SDK (in this process or a
// child) use key k against this store and nothing from the user's own
// AWS configuration.
func (s *Server) Env(k Key) []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + k.ID, "AWS_SECRET_ACCESS_KEY=" + k.Secret, "AWS_SESSION_TOKEN=",
		"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_REGION=us-east-1", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(s.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Setenv applies Env(k) to this process for the rest of the test.
func (s *Server) Setenv(t testing.TB, k Key) {
	for _, kv := range s.Env(k) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	if _, err := s.Client(t, Admin).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Put uploads data as bucket/key with the SDK and returns the object's
// ETag.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) string {
	t.Helper()
	out, err := s.Client(t, Admin).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// PutFile uploads the file at path as bucket/key.
func (s *Server) PutFile(t testing.TB, bucket, key, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s.Put(t, bucket, key, data)
}
