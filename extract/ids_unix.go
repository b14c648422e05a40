//go:build unix

package extract

import (
	"io/fs"
	"os"
	"syscall"
)

// hasIDs reports whether fi's file is owned by uid and gid already.
func hasIDs(fi fs.FileInfo, uid, gid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}

// ownedByMe reports whether fi's file belongs to this process's user
// and has one name.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == syscall.Geteuid() && st.Nlink == 1
}

// tryLock takes an exclusive advisory lock on f without waiting (flock:
// dropped by the system when the process dies) and reports whether it
// got it.
func tryLock(f *os.File) bool {
	return withFd(f, func(fd uintptr) error { return syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB) }) == nil
}
