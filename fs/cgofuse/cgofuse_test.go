//go:build cgofuse

package cgofuse

import (
	"syscall"
	"testing"

	"github.com/winfsp/cgofuse/fuse"
)

// TestErrc checks the errno translation by name: cgofuse's codes follow
// the platform (WinFsp's on Windows), package fs speaks syscall.Errno.
func TestErrc(t *testing.T) {
	for in, want := range map[syscall.Errno]int{
		0: 0, syscall.ENOENT: -fuse.ENOENT, syscall.ENOTDIR: -fuse.ENOTDIR, syscall.EISDIR: -fuse.EISDIR,
		syscall.EINVAL: -fuse.EINVAL, syscall.EACCES: -fuse.EACCES, syscall.EROFS: -fuse.EROFS,
		syscall.ENODATA: -fuse.ENOATTR, syscall.ERANGE: -fuse.ERANGE, syscall.EIO: -fuse.EIO,
		syscall.EBADF: -fuse.EBADF, syscall.ENAMETOOLONG: -fuse.ENAMETOOLONG,
		// Anything unexpected is an I/O error.
		syscall.ELOOP: -fuse.EIO,
	} {
		if got := errc(in); got != want {
			t.Errorf("errc(%v) = %d, want %d", in, got, want)
		}
	}
}

// TestWritesRefused: every mutating operation answers EROFS without
// touching the tree.
func TestWritesRefused(t *testing.T) {
	f := &fileSystem{}
	for name, got := range map[string]int{
		"mknod": f.Mknod("/x", 0, 0), "mkdir": f.Mkdir("/x", 0), "unlink": f.Unlink("/x"), "rmdir": f.Rmdir("/x"),
		"link": f.Link("/x", "/y"), "symlink": f.Symlink("x", "/y"), "rename": f.Rename("/x", "/y"),
		"chmod": f.Chmod("/x", 0), "chown": f.Chown("/x", 0, 0), "utimens": f.Utimens("/x", nil),
		"truncate": f.Truncate("/x", 0, 0), "setxattr": f.Setxattr("/x", "user.a", nil, 0),
		"removexattr": f.Removexattr("/x", "user.a"), "write": f.Write("/x", nil, 0, 0),
	} {
		if got != -fuse.EROFS {
			t.Errorf("%s: %d, want -EROFS", name, got)
		}
	}
	if rc, _ := f.Create("/x", 0, 0); rc != -fuse.EROFS {
		t.Errorf("create: %d", rc)
	}
	if rc, _ := f.Open("/x", fuse.O_WRONLY); rc != -fuse.EROFS {
		t.Errorf("open for writing: %d", rc)
	}
	if rc, _ := f.Open("/x", fuse.O_RDONLY|fuse.O_TRUNC); rc != -fuse.EROFS {
		t.Errorf("open with O_TRUNC: %d", rc)
	}
}
