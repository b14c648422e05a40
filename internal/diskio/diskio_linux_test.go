//go:build linux

package diskio

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestOpenInputBlockDevice: a block device is an input, sized by its
// capacity (Stat says 0).
func TestOpenInputBlockDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	isotest.RequireTool(t, "losetup")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 3<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	in, err := OpenInput(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if !in.Device || in.Size != 3<<20 {
		t.Errorf("%s: device %v size %d, want true %d", dev, in.Device, in.Size, 3<<20)
	}
	if pos, _ := in.Seek(0, 1); pos != 0 {
		t.Errorf("left at offset %d, want 0", pos)
	}
}
