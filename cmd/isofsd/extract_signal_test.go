//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// gate holds back reads of an image in [at, end) until release is
// closed, telling reached when a read first gets there: the test can
// interrupt an extraction at a known point of a file.
type gate struct {
	at, end int64
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

// gatedReader is one HTTP request's view of the gated image.
type gatedReader struct {
	*bytes.Reader
	g *gate
}

func (r gatedReader) Read(p []byte) (int, error) {
	pos, _ := r.Seek(0, io.SeekCurrent)
	if pos+int64(len(p)) > r.g.at && pos < r.g.end {
		select {
		case <-r.g.release:
		default:
			r.g.once.Do(func() { close(r.g.reached) })
			<-r.g.release
		}
	}
	return r.Reader.Read(p)
}

// gatedImage serves iso over HTTP with reads held back in a 4 MiB window
// 8 MiB into sub/big.bin (opening the image reads its end, which holds
// the end of big.bin) until release, which the test's cleanup calls too.
func gatedImage(t *testing.T, iso string) (url string, g *gate, release func()) {
	t.Helper()
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := img.Stat("sub/big.bin")
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	bigAt := fi.Sys().(*isofmt.Stat).Extents[0].Offset
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	g = &gate{at: bigAt + 8<<20, end: bigAt + 12<<20, reached: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(g.release) }) }
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "img.iso", mod, gatedReader{bytes.NewReader(data), g})
	}))
	// Cleanups run last-in first-out: release the held reads, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(release)
	return srv.URL + "/img.iso", g, release
}

// startAtGate starts isofsd with args and returns once its reads reach
// g's window: the process, its stderr, and a channel with its exit.
func startAtGate(t *testing.T, bin string, g *gate, args ...string) (*exec.Cmd, *syncWriter, chan error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := &syncWriter{w: &bytes.Buffer{}}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-g.reached:
	case err := <-exited:
		t.Fatalf("isofsd %s ended before reaching the gate: %v\n%s", args[0], err, stderr.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("isofsd %s never read 8 MiB into big.bin\n%s", args[0], stderr.String())
	}
	return cmd, stderr, exited
}

// TestExtractSIGINT (issue 21 §2.5) interrupts a real `isofsd extract`
// process with a real SIGINT while it is in the middle of a 40 MiB file
// (the image is served over HTTP, and the server holds back the bytes
// past 8 MiB of that file until the process has said it is stopping).
// Afterwards no file is left under its final name with part of its data,
// no temporary file is left, the directory being filled has its final
// mode (0750), not 0700, the files done before are there, and the exit
// status is 1. Before, the process died at once, leaving big.bin
// truncated and sub/ at 0700, and the next run refused big.bin.
func TestExtractSIGINT(t *testing.T) {
	bin := isofsdBinary(t)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	big := make([]byte, 40<<20)
	benchRand(11).Read(big)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("first"), 0o644))
	must(os.WriteFile(filepath.Join(src, "sub", "big.bin"), big, 0o644))
	must(os.Chmod(filepath.Join(src, "sub"), 0o750))
	iso := filepath.Join(tmp, "img.iso")
	xorrisoImage(t, src, iso)
	url, g, releaseAll := gatedImage(t, iso)
	out := filepath.Join(tmp, "out")
	cmd, stderr, exited := startAtGate(t, bin, g, "extract", url, "-C", out)
	must(cmd.Process.Signal(syscall.SIGINT))
	// Let the reads go on once the process says it is stopping (or has
	// died: what an interrupted process leaves is what is checked).
	var werr error
	deadline := time.After(2 * time.Minute)
wait:
	for {
		select {
		case werr = <-exited:
			break wait
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("extract did not stop after SIGINT\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
			if strings.Contains(stderr.String(), "interrupted") {
				releaseAll()
			}
		}
	}
	releaseAll()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != exitDamaged || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %v, want status 1 and a message saying interrupted\n%s", werr, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(out, "sub", "big.bin")); err == nil {
		t.Errorf("big.bin left under its final name with %d of %d bytes", len(b), len(big))
	}
	ents, _ := os.ReadDir(filepath.Join(out, "sub"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".isofsd-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if st, err := os.Stat(filepath.Join(out, "sub")); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("sub: %v, want mode 0750 (its mode in the image), not the 0700 it is filled with", modeOrErr(st, err))
	}
	if b, _ := os.ReadFile(filepath.Join(out, "sub", "a.txt")); string(b) != "first" {
		t.Errorf("sub/a.txt, done before the interruption: %q", b)
	}
}

func modeOrErr(fi os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fi.Mode()
}

// TestExtractSIGKILLLeftovers (review U7): a real `extract --overwrite`
// process is killed (SIGKILL: nothing can clean up) while it writes a
// replacement for sub/big.bin under a temporary name; the next run into
// the same DIR removes that file, says so, and completes.
func TestExtractSIGKILLLeftovers(t *testing.T) {
	bin := isofsdBinary(t)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	big := make([]byte, 40<<20)
	benchRand(12).Read(big)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "sub", "big.bin"), big, 0o644))
	iso := filepath.Join(tmp, "img.iso")
	xorrisoImage(t, src, iso)
	url, g, releaseAll := gatedImage(t, iso)
	out := filepath.Join(tmp, "out")
	must(os.MkdirAll(filepath.Join(out, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(out, "sub", "big.bin"), []byte("old"), 0o644))
	cmd, _, exited := startAtGate(t, bin, g, "extract", "--overwrite", url, "-C", out)
	must(cmd.Process.Signal(syscall.SIGKILL))
	<-exited
	releaseAll()
	temps := func() []string {
		var names []string
		ents, _ := os.ReadDir(filepath.Join(out, "sub"))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".isofsd-") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	left := temps()
	if len(left) != 1 {
		t.Fatalf("after SIGKILL: temporary files %q, want the one being written", left)
	}
	_, stderr2, code := cliRun(t, "extract", "--overwrite", iso, "-C", out)
	if code != 0 || !strings.Contains(stderr2, "removed sub/"+left[0]+", left by an interrupted run") {
		t.Errorf("next run: exit %d\n%s", code, stderr2)
	}
	if l := temps(); len(l) != 0 {
		t.Errorf("temporary files left after the next run: %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "sub", "big.bin")); !bytes.Equal(b, big) {
		t.Errorf("big.bin: %d bytes, not the image's", len(b))
	}
}
