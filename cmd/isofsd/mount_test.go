//go:build linux

package main

import (
	"reflect"
	"testing"

	"github.com/isofsd/isofsd/mounter"
)

func TestMountOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       mountFlags
		want    mounter.Options
		wantErr bool
	}{
		{"defaults", mountFlags{cacheSize: "32M", umask: "0", splice: "on", prefetch: "on"},
			mounter.Options{CacheSize: 32 << 20, Splice: true, Prefetch: true}, false},
		{"all", mountFlags{tree: "joliet", cacheSize: "1G", uid: 5, gid: 6, umask: "027", splice: "off", prefetch: "off", boot: true,
			options: []string{"ro", "allow_other", "nodev", "default_permissions", "uid=7", "umask=077"}},
			mounter.Options{Tree: "joliet", CacheSize: 1 << 30, UID: 7, GID: 6, Umask: 0o077, Boot: true, AllowOther: true,
				MountOptions: []string{"nodev", "default_permissions"}}, false},
		{"debug", mountFlags{cacheSize: "4096", umask: "0", splice: "on", prefetch: "on", options: []string{"debug"}},
			mounter.Options{CacheSize: 4096, Splice: true, Prefetch: true, Debug: true}, false},
		{"rw refused", mountFlags{cacheSize: "1M", umask: "0", splice: "on", prefetch: "on", options: []string{"rw"}}, mounter.Options{}, true},
		{"bad umask", mountFlags{cacheSize: "1M", umask: "999", splice: "on", prefetch: "on"}, mounter.Options{}, true},
		{"bad splice", mountFlags{cacheSize: "1M", umask: "0", splice: "maybe", prefetch: "on"}, mounter.Options{}, true},
		{"bad prefetch", mountFlags{cacheSize: "1M", umask: "0", splice: "on", prefetch: "yes"}, mounter.Options{}, true},
		{"bad tree", mountFlags{cacheSize: "1M", umask: "0", splice: "on", prefetch: "on", tree: "hfs"}, mounter.Options{}, true},
		{"bad size", mountFlags{cacheSize: "lots", umask: "0", splice: "on", prefetch: "on"}, mounter.Options{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.mountOptions("", "")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
