package mounter

import "testing"

func TestMountOwner(t *testing.T) {
	for _, tc := range []struct {
		super string
		uid   int
		ok    bool
	}{
		{"ro,fd=7,rootmode=40000,user_id=1001,group_id=1001,default_permissions", 1001, true},
		{"ro,user_id=0,group_id=0", 0, true},
		{"ro,fd=7", 0, false},
		{"ro,user_id=x", 0, false},
		{"ro,user_id=99999999999", 0, false},
	} {
		uid, ok := MountOwner(MountInfo{SuperOptions: tc.super})
		if uid != tc.uid || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.super, uid, ok, tc.uid, tc.ok)
		}
	}
}
