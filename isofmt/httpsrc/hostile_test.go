package httpsrc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// rangeServer serves data properly (Range, If-Range, ETag) unless hook
// handles request number n (counting from 0) itself.
func rangeServer(t *testing.T, data []byte, hook func(n int, w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var count atomic.Int64
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(count.Add(1) - 1)
		if hook != nil && hook(n, w, r) {
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "image.iso", mod, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &count
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// fast has short retries and opens with one block and no tail prefetch,
// so that tests control every later request.
var fast = Options{retryBase: time.Millisecond, Timeout: 2 * time.Second, OpenPrefetch: BlockSize, OpenTail: -1}

func TestNoRange(t *testing.T) {
	data := randomBytes(300 << 10)
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"ignores-range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data)
		}},
		// An endless body must not be read, let alone buffered.
		{"endless-200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(int64(1)<<50))
			for i := 0; i < 1<<20 && r.Context().Err() == nil; i++ {
				if _, err := w.Write(data); err != nil {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			_, err := Open(context.Background(), srv.URL+"/x.iso", fast)
			if !errors.Is(err, ErrNoRange) {
				t.Fatalf("Open: %v, want ErrNoRange", err)
			}
			t.Log(err)
		})
	}

	// A server that honoured Range at open but stops later.
	srv, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			return false
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat))
		w.Write(data)
		return true
	})
	src, err := Open(context.Background(), srv.URL, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.ReadAt(make([]byte, 10), 200<<10); !errors.Is(err, ErrNoRange) {
		t.Fatalf("ReadAt: %v, want ErrNoRange", err)
	}
}

// TestRetry5xx: a server that fails twice, then works.
func TestRetry5xx(t *testing.T) {
	data := randomBytes(500 << 10)
	for _, tc := range []struct {
		name  string
		fail  func(n int) bool
		retry int64
	}{
		{"open", func(n int) bool { return n < 2 }, 2},
		{"read", func(n int) bool { return n == 1 || n == 2 }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if tc.fail(n) {
					http.Error(w, "try later", http.StatusServiceUnavailable)
					return true
				}
				return false
			})
			src, err := Open(context.Background(), srv.URL, fast)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			buf := make([]byte, 100<<10)
			if _, err := src.ReadAt(buf, 300<<10); err != nil || !bytes.Equal(buf, data[300<<10:400<<10]) {
				t.Fatalf("ReadAt: %v", err)
			}
			if st := src.Stats(); st.Retries != tc.retry {
				t.Errorf("retries %d, want %d", st.Retries, tc.retry)
			}
		})
	}

	// Persistent failure gives up after Retries, with the status named.
	srv, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n > 0 {
			http.Error(w, "down", http.StatusBadGateway)
			return true
		}
		return false
	})
	opts := fast
	opts.Retries = 2
	src, err := Open(context.Background(), srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = src.ReadAt(make([]byte, 10), 200<<10)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadGateway {
		t.Fatalf("ReadAt: %v, want HTTP 502", err)
	}
	if st := src.Stats(); st.Retries != 2 {
		t.Errorf("retries %d, want 2", st.Retries)
	}
}

// TestHostile feeds responses that contradict the request. Each must end
// in a clear error, and none may make the reader allocate from a length
// the server claims.
func TestHostile(t *testing.T) {
	data := randomBytes(1 << 20)
	size := len(data)
	cr := func(w http.ResponseWriter, a, z, total int64) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, z, total))
	}
	// parse the request's range; the tests only send single ranges.
	rng := func(r *http.Request) (a, z int64) {
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &z)
		return
	}
	for _, tc := range []struct {
		name    string
		atOpen  bool // the hook fires on the opening request
		hook    func(w http.ResponseWriter, r *http.Request)
		wantErr error
		wantMsg string
	}{
		{"wrong-offset", false, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			cr(w, a+2048, z+2048, int64(size))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a+2048 : z+2049])
		}, ErrProtocol, "asked for bytes"},
		{"total-changed", false, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			cr(w, a, z, int64(size)+4096)
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a : z+1])
		}, ErrChanged, "Content-Range says"},
		{"etag-changed", false, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			w.Header().Set("ETag", `"v2"`)
			cr(w, a, z, int64(size))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a : z+1])
		}, ErrChanged, "ETag is now"},
		{"short-body", false, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			cr(w, a, z, int64(size))
			w.Header().Set("Content-Length", fmt.Sprint(z-a+1))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a : a+(z-a)/2])
		}, nil, "unexpected EOF"},
		{"huge-content-length", false, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			cr(w, a, z, int64(size))
			w.Header().Set("Content-Length", fmt.Sprint(int64(1)<<60))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[a : z+1])
		}, ErrProtocol, "Content-Length"},
		{"no-content-range", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:100])
		}, ErrProtocol, "Content-Range"},
		{"open-wrong-range", true, func(w http.ResponseWriter, r *http.Request) {
			cr(w, 4096, 4096+65535, int64(size))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[4096 : 4096+65536])
		}, ErrProtocol, "does not answer"},
		{"open-short-body", true, func(w http.ResponseWriter, r *http.Request) {
			a, z := rng(r)
			z = min(z, int64(size)-1)
			cr(w, a, z, int64(size))
			w.Header().Set("Content-Length", fmt.Sprint(z-a+1))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:1000])
		}, nil, "short body"},
		{"open-404", true, func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, nil, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if (n == 0) != tc.atOpen {
					return false
				}
				tc.hook(w, r)
				return true
			})
			opts := fast
			opts.Retries = 2
			src, err := Open(context.Background(), srv.URL, opts)
			if err == nil {
				defer src.Close()
				_, err = src.ReadAt(make([]byte, 1000), 500<<10)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			t.Log(err)
		})
	}
}

// TestHugeClaimedSize: a server claiming an exabyte-sized object gets a
// Source of that size, but neither it nor the disk cache allocates by it.
func TestHugeClaimedSize(t *testing.T) {
	data := randomBytes(BlockSize)
	const claimed = int64(1) << 60
	srv, _ := rangeServer(t, nil, func(n int, w http.ResponseWriter, r *http.Request) bool {
		var a, z int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &z)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, z, claimed))
		w.Header().Set("ETag", `"huge"`)
		w.WriteHeader(http.StatusPartialContent)
		for i := a; i <= z; i += BlockSize {
			w.Write(data[:min(BlockSize, z-i+1)])
		}
		return true
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	opts := fast
	opts.CacheDir = t.TempDir()
	src, err := Open(context.Background(), srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	if src.Size() != claimed {
		t.Errorf("size %d", src.Size())
	}
	buf := make([]byte, 1000)
	if _, err := src.ReadAt(buf, claimed-5000); err != nil {
		t.Fatal(err)
	}
	src.Close()
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("allocated %d bytes for a server claiming %d", d, claimed)
	}
	if !bytes.Equal(buf, data[BlockSize-5000:BlockSize-4000]) {
		t.Error("content differs")
	}
}

// TestStall: a server that sends headers and then nothing is cut after
// Timeout.
func TestStall(t *testing.T) {
	data := randomBytes(300 << 10)
	release := make(chan struct{})
	defer close(release)
	srv, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			return false
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", 196608, 262143, len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	opts := fast
	opts.Timeout = 200 * time.Millisecond
	opts.Retries = 1
	src, err := Open(context.Background(), srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	_, err = src.ReadAt(make([]byte, 10), 200<<10)
	if err == nil || !strings.Contains(err.Error(), "no progress") {
		t.Fatalf("ReadAt: %v, want a stall error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stall detected after %v", d)
	}
	t.Log(err)
}

// TestHTTP2LastModified serves the image over TLS with HTTP/2 from Go's
// file server, which sends Last-Modified but no ETag: If-Range then
// carries the date. An auth header from Options must reach the server.
func TestHTTP2LastModified(t *testing.T) {
	image := smallImage(t)
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dst := filepath.Join(root, "image.iso")
	os.WriteFile(dst, raw, 0o644)
	os.Chtimes(dst, time.Now(), time.Now().Add(-time.Hour))
	var h2, unauth atomic.Int64
	fsrv := http.FileServer(http.Dir(root))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		if r.Header.Get("Authorization") != "Bearer sesame" {
			unauth.Add(1)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fsrv.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	if _, err := Open(context.Background(), srv.URL+"/image.iso", Options{Client: srv.Client()}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Open without credentials: %v, want HTTP 401", err)
	}
	opts := Options{Client: srv.Client(), Header: http.Header{"Authorization": {"Bearer sesame"}}, OpenTail: -1}
	src, err := Open(context.Background(), srv.URL+"/image.iso", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.ETag() != "" || src.ifRange == "" {
		t.Fatalf("ETag %q, If-Range %q: want Last-Modified pinning", src.ETag(), src.ifRange)
	}
	img, err := isofmt.Open(src, src.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fs.ReadFile(mustOpenLocal(t, image), "5m.bin")
	got, err := fs.ReadFile(img, "5m.bin")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("5m.bin over HTTP/2: %v", err)
	}
	if h2.Load() == 0 {
		t.Error("no request used HTTP/2")
	}
	// Replace the image (same size, new date): uncached reads fail.
	src2, err := Open(context.Background(), srv.URL+"/image.iso", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	os.WriteFile(dst+".new", bytes.Repeat([]byte{1}, len(raw)), 0o644)
	os.Rename(dst+".new", dst)
	if _, err := src2.ReadAt(make([]byte, 100), int64(len(raw))-100); !errors.Is(err, ErrChanged) {
		t.Fatalf("read after replacement: %v, want ErrChanged", err)
	}
}

func mustOpenLocal(t *testing.T, path string) *isofmt.Image {
	t.Helper()
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// recorder is a rangeServer hook that records the length of every
// requested range.
type recorder struct {
	mu   sync.Mutex
	lens []int64
}

func (rec *recorder) hook(n int, w http.ResponseWriter, r *http.Request) bool {
	var a, z int64
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &z); err == nil {
		rec.mu.Lock()
		rec.lens = append(rec.lens, z-a+1)
		rec.mu.Unlock()
	}
	return false
}

func (rec *recorder) get() []int64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.lens)
}

// TestReadAhead checks the request pattern: random reads fetch only the
// blocks they touch; a sequential reader gets windows that grow from
// MinChunk (requests split at maxRequest) and never fetches more than
// about twice what it read.
func TestReadAhead(t *testing.T) {
	data := randomBytes(40 << 20)
	t.Run("random", func(t *testing.T) {
		rec := &recorder{}
		srv, _ := rangeServer(t, data, rec.hook)
		src, err := Open(context.Background(), srv.URL, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		buf := make([]byte, 4096)
		for i := range 50 {
			off := int64(i) * 797 * 1021 * 7 % int64(len(data)-len(buf))
			if _, err := src.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+4096]) {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
		}
		st := src.Stats()
		if st.ReadAhead != 0 {
			t.Errorf("random reads caused %d read-ahead blocks", st.ReadAhead)
		}
		for _, l := range rec.get()[1:] {
			if l > 2*BlockSize {
				t.Errorf("a 4 KiB random read requested %d bytes", l)
			}
		}
	})
	// FUSE delivers a sequential read as concurrent 128 KiB requests that
	// arrive slightly out of order: still one stream.
	t.Run("fuse-order", func(t *testing.T) {
		rec := &recorder{}
		srv, _ := rangeServer(t, data, rec.hook)
		src, err := Open(context.Background(), srv.URL, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		const chunk, n = 128 << 10, 64 // 8 MiB
		base := int64(7 << 20)
		var wg sync.WaitGroup
		for pair := 0; pair < n; pair += 4 {
			for _, i := range []int{pair + 1, pair, pair + 3, pair + 2} {
				wg.Go(func() {
					buf := make([]byte, chunk)
					off := base + int64(i)*chunk
					if _, err := src.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+chunk]) {
						t.Errorf("ReadAt(%d): %v", off, err)
					}
				})
			}
			wg.Wait()
		}
		src.Close()
		var total int64
		for _, l := range rec.get()[1:] {
			total += l
		}
		st := src.Stats()
		t.Logf("%d requests, %d bytes for %d read; %d read-ahead blocks", len(rec.get())-1, total, n*chunk, st.ReadAhead)
		if st.ReadAhead*BlockSize < n*chunk/2 {
			t.Errorf("only %d blocks of read-ahead for an out-of-order sequential reader", st.ReadAhead)
		}
		if total > 2*n*chunk {
			t.Errorf("fetched %d bytes to read %d", total, n*chunk)
		}
	})
	t.Run("limit", func(t *testing.T) {
		rec := &recorder{}
		srv, _ := rangeServer(t, data, rec.hook)
		src, err := Open(context.Background(), srv.URL, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		start, size := int64(3<<20+4096), int64(3<<20+1000)
		buf := make([]byte, 16<<10)
		for off := start; off < start+size; off += int64(len(buf)) {
			n, err := src.ReadAtLimit(buf, off, start+size)
			if err != nil || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
				t.Fatalf("ReadAtLimit(%d): %v", off, err)
			}
		}
		src.Close()
		var total int64
		for _, l := range rec.get()[1:] {
			total += l
		}
		// Only block rounding at both ends may exceed the file.
		if total > size+2*BlockSize {
			t.Errorf("fetched %d bytes for a %d-byte file with its end given", total, size)
		}
		if st := src.Stats(); st.ReadAhead == 0 {
			t.Error("no read-ahead within the limit")
		}
	})
	for _, size := range []int64{1 << 20, 30 << 20} {
		t.Run(fmt.Sprintf("sequential-%dM", size>>20), func(t *testing.T) {
			rec := &recorder{}
			srv, _ := rangeServer(t, data, rec.hook)
			src, err := Open(context.Background(), srv.URL, fast)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			start := int64(5<<20 + 2048) // an unaligned file start
			buf := make([]byte, 32<<10)
			for off := start; off < start+size; off += int64(len(buf)) {
				if _, err := src.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
					t.Fatalf("ReadAt(%d): %v", off, err)
				}
			}
			src.Close() // waits for read-ahead in flight
			lens := rec.get()[1:]
			var total, biggest int64
			for _, l := range lens {
				total += l
				biggest = max(biggest, l)
			}
			t.Logf("%d requests, %d bytes for %d read: %v", len(lens), total, size, lens)
			if total > size+3*size/4+2*DefaultMinChunk {
				t.Errorf("fetched %d bytes to read %d", total, size)
			}
			if biggest > maxRequest {
				t.Errorf("a request of %d bytes exceeds maxRequest", biggest)
			}
			if size >= 16<<20 && biggest != maxRequest {
				t.Errorf("largest request %d: the window never grew to %d", biggest, maxRequest)
			}
		})
	}
}

// TestOpenRoundTripsCorpus opens every third-party corpus image that
// opens locally over HTTP and counts the requests isofmt.Open causes:
// the bound is 3, whatever the layout (UDF anchors at 256, trees
// far from the descriptors).
func TestOpenRoundTripsCorpus(t *testing.T) {
	images := isotest.CorpusImages(t)
	for _, path := range images {
		local, err := isofmt.OpenFile(path, nil)
		if err != nil {
			continue // damaged on purpose: isofmt's tests cover it
		}
		trees := local.Trees()
		local.Close()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			srv, _ := rangeServer(t, data, rec.hook)
			src, err := Open(context.Background(), srv.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			img, err := isofmt.Open(src, src.Size(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(img.Trees()) != fmt.Sprint(trees) {
				t.Errorf("trees %v over HTTP, %v locally", img.Trees(), trees)
			}
			if n := len(rec.get()); n > 3 {
				t.Errorf("isofmt.Open took %d requests (%v), want ≤ 3", n, rec.get())
			}
		})
	}
}

// TestErrorsHideQuery: presigned URLs carry credentials in the query
// string; no error may repeat them.
func TestErrorsHideQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/x.iso?X-Amz-Signature=sekrit"
	_, err := Open(context.Background(), u, fast)
	if err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("404: %v", err)
	}
	srv.Close()
	_, err = Open(context.Background(), u, Options{Retries: -1})
	if err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("connection refused: %v", err)
	}
	t.Log(err)
}

// TestKeepAlive: responses are read to their end, so connections are
// reused: a 40 MB sequential read must not open a connection per request.
func TestKeepAlive(t *testing.T) {
	data := randomBytes(40 << 20)
	var conns, reqs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "x", time.Now(), bytes.NewReader(data))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	src, err := Open(context.Background(), srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128<<10)
	for off := int64(0); off < src.Size(); off += int64(len(buf)) {
		if _, err := src.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	t.Logf("%d requests over %d connections", reqs.Load(), conns.Load())
	if conns.Load() > int64(DefaultConcurrency) || conns.Load()*2 > reqs.Load() {
		t.Errorf("%d requests used %d connections", reqs.Load(), conns.Load())
	}
}
