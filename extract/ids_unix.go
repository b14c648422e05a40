//go:build unix

package extract

import (
	"io/fs"
	"syscall"
)

// hasIDs reports whether fi's file is owned by uid and gid already.
func hasIDs(fi fs.FileInfo, uid, gid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}
