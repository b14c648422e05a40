package mounter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

func TestParseFstabOptions(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    FstabOptions
		wantErr string
	}{
		{"", FstabOptions{}, ""},
		{"defaults", FstabOptions{Ignored: []string{"defaults"}}, ""},
		{"ro,allow_other,nofail,_netdev,x-systemd.automount,x-systemd.idle-timeout=60,noauto,auto,user,users,comment=foo",
			FstabOptions{AllowOther: true, Ignored: []string{"ro", "nofail", "_netdev", "x-systemd.automount", "x-systemd.idle-timeout=60", "noauto", "auto", "user", "users", "comment=foo"}}, ""},
		{"uid=1000,gid=100,umask=027,tree=udf,cache_size=64M,debug",
			FstabOptions{UID: u32(1000), GID: u32(100), Umask: u32(0o27), Tree: "udf", CacheSize: "64M", Debug: true}, ""},
		// What mount.fuse3 adds, and kernel options, pass through.
		{"ro,dev,suid,nodev,noexec,default_permissions",
			FstabOptions{Kernel: []string{"dev", "suid", "nodev", "noexec", "default_permissions"}, Ignored: []string{"ro"}}, ""},
		{"fsname=x,subtype=isofsd", FstabOptions{Ignored: []string{"fsname=x", "subtype=isofsd"}}, ""},
		{" frobnicate , x-gvfs-show ,weird=1", FstabOptions{Unknown: []string{"frobnicate", "weird=1"}, Ignored: []string{"x-gvfs-show"}}, ""},
		{"ro,rw", FstabOptions{}, "read-only"},
		{"uid=-1", FstabOptions{}, "uid=-1"},
		{"uid", FstabOptions{}, "uid"},
		{"umask=888", FstabOptions{}, "umask=888"},
		{"umask=1000", FstabOptions{}, "umask=1000"},
		{"tree=hfs", FstabOptions{}, "tree=hfs"},
		{"cache_size=", FstabOptions{}, "cache_size="},
	} {
		got, err := ParseFstabOptions(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v %v\nwant %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseFstabOptions("rw"); !errors.Is(err, ErrReadWrite) {
		t.Errorf("rw: %v", err)
	}
}

func TestParseHelperArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    HelperCall
		wantErr string
	}{
		// mount.fuse3's call for fstab type fuse.isofsd.
		{[]string{"/srv/a.iso", "/mnt/a", "-o", "ro,dev,suid"}, HelperCall{Image: "/srv/a.iso", Mountpoint: "/mnt/a", Options: "ro,dev,suid"}, ""},
		// mount(8)'s call of /sbin/mount.isofsd.
		{[]string{"/srv/a.iso", "/mnt/a", "-sn", "-o", "ro", "-t", "isofsd"}, HelperCall{Image: "/srv/a.iso", Mountpoint: "/mnt/a", Options: "ro"}, ""},
		{[]string{"-v", "-oro", "-o", "allow_other", "/a", "/b"}, HelperCall{Image: "/a", Mountpoint: "/b", Options: "ro,allow_other", Verbose: true}, ""},
		{[]string{"-tisofsd", "--", "-odd name.iso", "/b"}, HelperCall{Image: "-odd name.iso", Mountpoint: "/b"}, ""},
		{[]string{"/a"}, HelperCall{}, "got 1 arguments"},
		{[]string{"/a", "/b", "/c"}, HelperCall{}, "got 3 arguments"},
		{[]string{"/a", "/b", "-o"}, HelperCall{}, "-o needs a value"},
		{[]string{"/a", "/b", "-f"}, HelperCall{}, "-f"},
	} {
		got, err := ParseHelperArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v", tc.args, got, err, tc.want)
		}
	}
}
