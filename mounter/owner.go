package mounter

import (
	"strconv"
	"strings"
)

// MountOwner is the user who made a FUSE mount (its user_id= option),
// who may unmount it besides root; ok is false when the entry does not
// say.
func MountOwner(mi MountInfo) (uid int, ok bool) {
	for _, o := range strings.Split(mi.SuperOptions, ",") {
		if v, found := strings.CutPrefix(o, "user_id="); found {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return 0, false
			}
			return int(n), true
		}
	}
	return 0, false
}
