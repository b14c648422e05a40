package automp

import (
	"encoding/binary"
	"errors"
	"testing"
)

// aclBytes encodes entries as Linux stores system.posix_acl_access.
func aclBytes(ents ...aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range ents {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// withBase is the part every access ACL has: owner, owning group,
// others; with named entries a mask too.
func withBase(mask uint16, named ...aclEntry) []byte {
	ents := []aclEntry{{tag: aclUserObj, perm: 7}, {tag: aclGroupObj, perm: 5}, {tag: aclOther, perm: 0}}
	if len(named) > 0 {
		ents = append(ents, aclEntry{tag: aclMask, perm: mask})
	}
	return aclBytes(append(ents, named...)...)
}

// TestACLOtherWriters: only write granted to the user and root passes;
// entries masked out do not count; malformed values are errors.
func TestACLOtherWriters(t *testing.T) {
	const me = 1001
	for _, tc := range []struct {
		name string
		acl  []byte
		who  string
		bad  bool
	}{
		{"only the user", withBase(7, aclEntry{aclUser, 7, me}), "", false},
		{"user and root", withBase(7, aclEntry{aclUser, 7, me}, aclEntry{aclUser, 7, 0}), "", false},
		{"another user too (review S5)", withBase(7, aclEntry{aclUser, 7, me}, aclEntry{aclUser, 7, 65534}), "uid 65534", false},
		{"another user read-only", withBase(7, aclEntry{aclUser, 7, me}, aclEntry{aclUser, 5, 65534}), "", false},
		{"another user masked", withBase(5, aclEntry{aclUser, 7, 65534}), "", false},
		{"named group with write", withBase(7, aclEntry{aclUser, 7, me}, aclEntry{aclGroup, 7, 100}), "gid 100", false},
		{"owning group with write", aclBytes(aclEntry{aclUserObj, 7, 0}, aclEntry{aclGroupObj, 7, 0}, aclEntry{aclMask, 7, 0}, aclEntry{aclOther, 0, 0}), "its owning group", false},
		{"others with write", aclBytes(aclEntry{aclUserObj, 7, 0}, aclEntry{aclGroupObj, 5, 0}, aclEntry{aclOther, 7, 0}), "everyone", false},
		{"empty", nil, "", true},
		{"header only", aclBytes(), "", false},
		{"wrong version", append([]byte{1, 0, 0, 0}, make([]byte, 8)...), "", true},
		{"torn entry", withBase(7, aclEntry{aclUser, 7, me})[:13], "", true},
		{"unknown tag", aclBytes(aclEntry{0x40, 7, 0}), "", true},
		{"too many entries", aclBytes(make([]aclEntry, maxACLEntries+1)...), "", true},
	} {
		who, err := aclOtherWriters(tc.acl, me)
		if tc.bad {
			if !errors.Is(err, errBadACL) {
				t.Errorf("%s: %q %v, want errBadACL", tc.name, who, err)
			}
			continue
		}
		if err != nil || who != tc.who {
			t.Errorf("%s: %q %v, want %q", tc.name, who, err, tc.who)
		}
	}
}

// FuzzACLOtherWriters: any attribute value gives an answer or an error,
// never a panic.
func FuzzACLOtherWriters(f *testing.F) {
	f.Add(withBase(7, aclEntry{aclUser, 7, 1000}, aclEntry{aclUser, 7, 65534}), 1000)
	f.Add(aclBytes(aclEntry{aclUserObj, 7, 0}, aclEntry{aclGroupObj, 5, 0}, aclEntry{aclOther, 5, 0}), 0)
	f.Add([]byte{2, 0, 0, 0, 0x10}, 1)
	f.Fuzz(func(t *testing.T, b []byte, uid int) {
		who, err := aclOtherWriters(b, uid)
		if err != nil && who != "" {
			t.Fatalf("both %q and %v", who, err)
		}
	})
}
