//go:build linux

package mounter

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	in := `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
42 27 0:39 / /tmp/with\040space/mnt ro,nosuid,nodev,relatime shared:5 master:2 - fuse.isofsd /img/a\040b.iso ro,user_id=0,group_id=0
short line
43 27 0:40 / /x rw - 
`
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("parsed %d entries: %+v", len(got), got)
	}
	want := MountInfo{Major: 0, Minor: 39, MountPoint: "/tmp/with space/mnt", FSType: "fuse.isofsd", Source: "/img/a b.iso"}
	if got[1] != want {
		t.Errorf("got %+v, want %+v", got[1], want)
	}
	if got[0].Major != 253 || got[0].MountPoint != "/" || got[0].FSType != "ext4" {
		t.Errorf("root entry %+v", got[0])
	}
}

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
