package automp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// POSIX access ACLs as Linux stores them in the system.posix_acl_access
// extended attribute (include/uapi/linux/posix_acl_xattr.h): a 4-byte
// little-endian version (2), then 8-byte entries {tag u16, perm u16, id
// u32}.
const (
	aclVersion   = 2
	aclHeader    = 4
	aclEntrySize = 8
	// maxACLEntries caps the entries read: ext4 and tmpfs hold at most a
	// few hundred (the value fits in one block); a value claiming more
	// is not one the kernel made.
	maxACLEntries = 1024

	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20

	aclWrite = 0x02
)

// errBadACL means the attribute is not a POSIX ACL the kernel would
// have stored.
var errBadACL = errors.New("malformed POSIX ACL")

// aclEntry is one entry of an access ACL.
type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// parseACL decodes a system.posix_acl_access value.
func parseACL(b []byte) ([]aclEntry, error) {
	if len(b) < aclHeader || (len(b)-aclHeader)%aclEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes", errBadACL, len(b))
	}
	if v := binary.LittleEndian.Uint32(b); v != aclVersion {
		return nil, fmt.Errorf("%w: version %d", errBadACL, v)
	}
	n := (len(b) - aclHeader) / aclEntrySize
	if n > maxACLEntries {
		return nil, fmt.Errorf("%w: %d entries", errBadACL, n)
	}
	out := make([]aclEntry, 0, n)
	for i := range n {
		e := b[aclHeader+i*aclEntrySize:]
		out = append(out, aclEntry{tag: binary.LittleEndian.Uint16(e), perm: binary.LittleEndian.Uint16(e[2:]), id: binary.LittleEndian.Uint32(e[4:])})
	}
	return out, nil
}

// aclOtherWriters names whoever besides the directory's owner, uid and
// root the access ACL lets create or rename entries, or returns "" when
// nobody else may. A named user's or a group's entry counts only with
// the write bit left by the mask (the mode's group bits); any group with
// write counts, since its members are not known here.
func aclOtherWriters(b []byte, uid int) (string, error) {
	ents, err := parseACL(b)
	if err != nil {
		return "", err
	}
	mask := uint16(0xffff)
	for _, e := range ents {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	for _, e := range ents {
		switch e.tag {
		case aclUserObj:
			// The owner: checked by the caller.
		case aclUser:
			if e.perm&mask&aclWrite != 0 && int64(e.id) != int64(uid) && e.id != 0 {
				return fmt.Sprintf("uid %d", e.id), nil
			}
		case aclGroupObj:
			if e.perm&mask&aclWrite != 0 {
				return "its owning group", nil
			}
		case aclGroup:
			if e.perm&mask&aclWrite != 0 {
				return fmt.Sprintf("gid %d", e.id), nil
			}
		case aclOther:
			if e.perm&aclWrite != 0 {
				return "everyone", nil
			}
		case aclMask:
		default:
			return "", fmt.Errorf("%w: unknown tag %#x", errBadACL, e.tag)
		}
	}
	return "", nil
}
