//go:build unix

package filesrc

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
)

// TestOpenRefusesFIFO: a FIFO given as an image is refused at once (a
// plain open would block until a writer came, and reads never end).
func TestOpenRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe.iso")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Open(p)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, diskio.ErrNotInput) {
			t.Errorf("FIFO: %v, want %v", err, diskio.ErrNotInput)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
}
