package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// randomFile writes n pseudo-random bytes (seeded) to path.
func randomFile(t testing.TB, path string, n int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// testOpts keep a killed server from stalling the test for long.
var testOpts = httpsrc.Options{OpenPrefetch: httpsrc.PinOnly, OpenTail: -1, Retries: 1, Timeout: 3 * time.Second}

func open(t testing.TB, url string) *httpsrc.Source {
	t.Helper()
	src, err := httpsrc.Open(context.Background(), url, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// TestDownloadResumes kills nginx while a download runs: the download
// stops with an error and leaves a mapfile; with nginx back, running it
// again fetches only what is missing (counted in nginx's access log) and
// the file is identical to the original. A mapfile is gone once the
// download completes.
func TestDownloadResumes(t *testing.T) {
	www := t.TempDir()
	const size = 48 << 20
	want := randomFile(t, filepath.Join(www, "image.iso"), size, 1)
	srv := nginxtest.Start(t, www)
	out := filepath.Join(t.TempDir(), "image.iso")

	var once sync.Once
	o := Options{Workers: 4, ChunkSize: 1 << 20, Progress: func(done, total int64) {
		if done > total/3 {
			once.Do(func() { go srv.Stop() })
		}
	}}
	res, err := Download(context.Background(), open(t, srv.URL("image.iso")), out, o)
	if err == nil {
		t.Fatal("the download survived nginx being killed")
	}
	if !strings.Contains(err.Error(), "run the same command again") {
		t.Errorf("error does not say how to resume: %v", err)
	}
	m, merr := ddmap.Load(out + MapSuffix)
	if merr != nil {
		t.Fatalf("no mapfile after the interruption: %v", merr)
	}
	have := m.Totals()[ddmap.Finished].Bytes
	t.Logf("interrupted: %v; %d of %d bytes done, %d fetched", err, have, size, res.Fetched)
	if have == 0 || have == size {
		t.Fatalf("mapfile has %d of %d bytes finished", have, size)
	}

	srv.Start()
	mark := len(srv.Log())
	var notes []string
	o = Options{Workers: 4, ChunkSize: 1 << 20, Note: func(s string) { notes = append(notes, s) }}
	res, err = Download(context.Background(), open(t, srv.URL("image.iso")), out, o)
	if err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	got, _ := os.ReadFile(out)
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatal("the resumed download differs from the original")
	}
	_, _, body := srv.Since(mark)
	t.Logf("resumed: %d bytes already there, %d fetched, nginx sent %d body bytes; notes %q", res.Resumed, res.Fetched, body, notes)
	if res.Resumed < have || body > size-have+1 {
		t.Errorf("resuming fetched %d bytes with %d of %d already done", body, have, size)
	}
	if _, err := os.Stat(out + MapSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mapfile left after a complete download: %v", err)
	}
}

// TestDownloadReplacedObject: an interrupted download of an object that
// the server then replaces starts over instead of mixing the two.
func TestDownloadReplacedObject(t *testing.T) {
	www := t.TempDir()
	randomFile(t, filepath.Join(www, "image.iso"), 8<<20, 1)
	srv := nginxtest.Start(t, www)
	out := filepath.Join(t.TempDir(), "image.iso")
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := Download(ctx, open(t, srv.URL("image.iso")), out, Options{Workers: 1, ChunkSize: 1 << 20, Progress: func(done, total int64) {
		if done >= 2<<20 {
			once.Do(cancel)
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // another Last-Modified second
	want := randomFile(t, filepath.Join(www, "image.iso"), 8<<20, 2)
	var notes []string
	res, err := Download(context.Background(), open(t, srv.URL("image.iso")), out, Options{Note: func(s string) { notes = append(notes, s) }})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) || res.Resumed != 0 {
		t.Fatalf("download after the replacement: identical %v, resumed %d", bytes.Equal(got, want), res.Resumed)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "starting over") {
		t.Errorf("notes %q do not say it started over", notes)
	}
}

// TestDownloadRefusesExisting: a file that is not an interrupted download
// is not overwritten unless forced.
func TestDownloadRefusesExisting(t *testing.T) {
	www := t.TempDir()
	want := randomFile(t, filepath.Join(www, "image.iso"), 1<<20, 1)
	srv := nginxtest.Start(t, www)
	out := filepath.Join(t.TempDir(), "image.iso")
	if err := os.WriteFile(out, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(context.Background(), open(t, srv.URL("image.iso")), out, Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("existing file: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatal("the existing file was touched")
	}
	if _, err := Download(context.Background(), open(t, srv.URL("image.iso")), out, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, want) {
		t.Fatal("forced download differs")
	}
}
