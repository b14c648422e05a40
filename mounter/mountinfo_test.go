//go:build linux

package mounter

import (
	"errors"
	"os"
	"testing"
)

func TestUnmountNotMounted(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc")
	}
	err := Unmount(t.TempDir(), false)
	if !errors.Is(err, ErrNotMounted) {
		t.Errorf("Unmount of a plain directory: %v, want ErrNotMounted", err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	if _, err := os.Stat(FuseDevice); err != nil {
		t.Skip("no /dev/fuse")
	}
	d := t.TempDir()
	notISO := d + "/x.iso"
	os.WriteFile(notISO, make([]byte, 100000), 0o644)
	for _, tc := range []struct {
		image, mp string
		want      error
	}{
		{notISO, d, ErrImage},
		{d + "/missing.iso", d, ErrImage},
		{notISO, d + "/nowhere", ErrMountpoint},
		{notISO, notISO, ErrMountpoint},
	} {
		_, err := New(t.Context(), Options{Image: tc.image, Mountpoint: tc.mp})
		if !errors.Is(err, tc.want) {
			t.Errorf("New(%s, %s): %v, want %v", tc.image, tc.mp, err, tc.want)
		}
	}
}
