//go:build unix

package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const noFollow = unix.O_NOFOLLOW

// isLoop tells the error of opening a symbolic link with O_NOFOLLOW.
func isLoop(err error) bool { return errors.Is(err, unix.ELOOP) }

// notOwned says why fi is not the effective user's own file ("" if it
// is): another owner, or more than one link (a hard link to a file
// elsewhere would be written through).
func notOwned(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Sprintf("belongs to uid %d, not to you (uid %d)", st.Uid, uid)
	}
	if st.Nlink > 1 {
		return fmt.Sprintf("has %d hard links", st.Nlink)
	}
	return ""
}

// freeSpace is what an unprivileged user may still write in dir's file
// system.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
