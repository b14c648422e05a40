package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/isofsd/isofsd/recover/ddmap"
)

// rangeServer answers Range requests for an object of size bytes whose
// content body returns (nil: zeros), with no ETag and no Last-Modified:
// the hostile and the validator-less servers of REVIEW-2 #6 and #7.
func rangeServer(t testing.TB, size int64, body func() []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first, last int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil || first > last || last >= size {
			http.Error(w, "want a Range", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
		w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		if b := body(); b != nil {
			w.Write(b[first : last+1])
			return
		}
		io.CopyN(w, zeros{}, last-first+1)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDownloadRefusesHugeSize (REVIEW-2 #6): a server claiming a 1 PiB
// object is refused before anything is written — one error naming the
// size and the free space, no file and no mapfile left behind.
func TestDownloadRefusesHugeSize(t *testing.T) {
	srv := rangeServer(t, 1<<50, func() []byte { return nil })
	out := filepath.Join(t.TempDir(), "big.iso")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started atomic.Bool
	_, err := Download(ctx, open(t, srv.URL+"/big.iso"), out, Options{ChunkSize: 1 << 30, Progress: func(int64, int64) {
		if !started.Swap(true) {
			cancel()
		}
	}})
	if started.Load() {
		t.Error("the download of a 1 PiB object started")
	}
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "1125899906842624 bytes") || !strings.Contains(err.Error(), "free") {
		t.Errorf("1 PiB object: %v, want ErrNoSpace naming the size and the free space", err)
	}
	t.Logf("refused: %v", err)
	for _, p := range []string{out, out + MapSuffix} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind after the refusal (%v)", p, err)
		}
	}
}

// TestDownloadChunksLazily (REVIEW-2 #6): the work of a huge map is cut
// into chunks as it is handed out, never listed up front (a 256 GiB
// object in 64 KiB chunks is 4 Mi chunks: ~100 MB as a list).
func TestDownloadChunksLazily(t *testing.T) {
	const size = 1 << 38
	srv := rangeServer(t, size, func() []byte { return nil })
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // every chunk handed out fails at once: only the feeding costs
	d := &download{ctx: ctx, src: open(t, srv.URL+"/x.iso"), f: f, m: ddmap.New(size), o: Options{Workers: 1, ChunkSize: 64 << 10}, size: size}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d.run()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("run allocated %d bytes for a map of %d chunks: the chunks are listed up front", got, size/(64<<10))
	}
}

// TestDownloadNoValidatorStartsOver (REVIEW-2 #7): an object served
// without ETag and Last-Modified is never resumed — after an interruption
// and the object's replacement by another of the same size, the file is
// the new object whole, not a mix, and a note says why it started over.
func TestDownloadNoValidatorStartsOver(t *testing.T) {
	const size = 4 << 20
	var mu sync.Mutex
	cur := bytes.Repeat([]byte("old release "), size/12+1)[:size]
	srv := rangeServer(t, size, func() []byte { mu.Lock(); defer mu.Unlock(); return cur })
	out := filepath.Join(t.TempDir(), "img.iso")
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := Download(ctx, open(t, srv.URL+"/img.iso"), out, Options{Workers: 1, ChunkSize: 64 << 10, Progress: func(done, total int64) {
		if done >= 1<<20 {
			once.Do(cancel)
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted download: %v", err)
	}
	if m, err := ddmap.Load(out + MapSuffix); err != nil || m.Totals()[ddmap.Finished].Bytes == 0 {
		t.Fatalf("no progress recorded before the interruption: %v", err)
	}
	mu.Lock()
	want := bytes.Repeat([]byte("NEW RELEASE "), size/12+1)[:size]
	cur = want
	mu.Unlock()
	var notes []string
	res, err := Download(context.Background(), open(t, srv.URL+"/img.iso"), out, Options{ChunkSize: 64 << 10, Note: func(s string) { notes = append(notes, s) }})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) || res.Resumed != 0 {
		t.Errorf("after the replacement: the file is the new object %v, resumed %d bytes", bytes.Equal(got, want), res.Resumed)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "no ETag or Last-Modified") || !strings.Contains(notes[0], "starting over") {
		t.Errorf("notes %q do not say why it started over", notes)
	}
}
