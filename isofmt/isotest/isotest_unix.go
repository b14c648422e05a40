//go:build unix

package isotest

import (
	"fmt"
	"io/fs"
	"syscall"
)

func diskIno(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 || fi.IsDir() {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
