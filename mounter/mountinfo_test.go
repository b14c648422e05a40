//go:build linux

package mounter

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/internal/mountinfo"
	"github.com/isofsd/isofsd/isofmt/isotest"
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
	isotest.RequireFUSE(t)
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

// TestOwnMounts: root may unmount every isofsd mount, a user only those
// it mounted (user_id=), children before parents, other file systems
// never.
func TestOwnMounts(t *testing.T) {
	table := `22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
40 22 0:40 / /m/a ro,nosuid,nodev - fuse.isofsd /a.iso ro,user_id=0,group_id=0,default_permissions
41 40 0:41 / /m/a/inner ro,nosuid,nodev - fuse.isofsd /b.iso ro,user_id=1000,group_id=1000,default_permissions
42 22 0:42 / /m/tmp rw - tmpfs tmpfs rw
43 22 0:43 / /m/c ro,nosuid,nodev - fuse.isofsd /c.iso ro,user_id=10000,group_id=1000,default_permissions
44 22 0:44 / /m/ssh rw - fuse.sshfs host: rw,user_id=1000,group_id=1000
`
	all, err := mountinfo.Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	paths := func(ms []MountInfo) string {
		var p []string
		for _, m := range ms {
			p = append(p, m.MountPoint)
		}
		return strings.Join(p, " ")
	}
	for _, tc := range []struct {
		euid int
		want string
	}{
		{0, "/m/c /m/a/inner /m/a"},
		{1000, "/m/a/inner"},
		{10000, "/m/c"},
		{1001, ""},
	} {
		if got := paths(ownMounts(all, tc.euid)); got != tc.want {
			t.Errorf("euid %d: %q, want %q", tc.euid, got, tc.want)
		}
	}
}
