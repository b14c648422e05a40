//go:build linux

package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// requireLoop skips unless loop devices can be set up here.
func requireLoop(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	isotest.RequireTool(t, "losetup")
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newLoop attaches a fresh loop device over a sparse file of size bytes
// in dir and detaches it when the test ends. extra are losetup flags (-P).
func newLoop(t testing.TB, dir string, size int64, extra ...string) (dev, backing string) {
	t.Helper()
	requireLoop(t)
	return isotest.LoopDevice(t, dir, size, extra...)
}

// randomImage writes size pseudo-random bytes (seeded, so failures
// reproduce) and returns the path and the data.
func randomImage(t testing.TB, dir string, size int, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	for i := size / 8 * 8; i < size; i++ {
		data[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, "image.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// readBack reads n bytes from the start of path, bypassing nothing: the
// writer has synced and dropped caches, and for loop devices the backing
// file is the truth anyway.
func readBack(t testing.TB, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatalf("reading back %s: %v", path, err)
	}
	return b
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: content differs from the image at byte %d (sha256 %x vs %x)", what, i, sha256.Sum256(got), sha256.Sum256(want))
	}
}

// writeAll prepares and executes, failing the test on plan errors.
func writeAll(t testing.TB, src string, targets []string, opts Options) *Report {
	t.Helper()
	p, err := Prepare(src, targets, opts)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := p.Err(); err != nil {
		p.Close()
		t.Fatalf("plan refused: %v", err)
	}
	rep, err := p.Execute(context.Background())
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return rep
}
