//go:build linux

package integration

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// faultyDisk is the faulty-disk helper: a FUSE file system, served by the
// test process, holding one file, disk.iso, whose reads fail with EIO
// wherever they touch a range marked bad, the way a disk with unreadable
// sectors fails. Reads bypass the kernel cache (FOPEN_DIRECT_IO), so every
// read of the image by the isofsd daemon meets the current faults.
type faultyDisk struct {
	gofs.Inode
	data []byte

	mu   sync.RWMutex
	bad  [][2]int64 // [start, end) byte ranges
	eio  int        // reads failed
	file *gofs.Inode
}

// Path is the image file on the helper's mount.
type faultyMount struct {
	*faultyDisk
	Path string
}

// newFaultyDisk mounts the helper on a fresh directory and returns it;
// the mount goes away when the test ends.
func newFaultyDisk(t *testing.T, data []byte) *faultyMount {
	t.Helper()
	isotest.RequireFUSE(t)
	d := &faultyDisk{data: data}
	dir := filepath.Join(t.TempDir(), "faulty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := gofs.Mount(dir, d, &gofs.Options{MountOptions: fuse.MountOptions{FsName: "faultydisk", Name: "faultydisk"}})
	if err != nil {
		t.Fatalf("faulty disk helper: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return &faultyMount{faultyDisk: d, Path: filepath.Join(dir, "disk.iso")}
}

// SetBad replaces the bad ranges (none heals the disk) and drops the
// file's pages from the kernel cache: splice reads the page cache even of
// a FOPEN_DIRECT_IO file, and a cached page would never meet the fault.
func (d *faultyDisk) SetBad(r ...[2]int64) {
	d.mu.Lock()
	d.bad = r
	d.mu.Unlock()
	if errno := d.file.NotifyContent(0, 0); errno != 0 {
		panic("faulty disk: cache invalidation: " + errno.Error())
	}
}

// Failed returns how many reads failed so far.
func (d *faultyDisk) Failed() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.eio
}

func (d *faultyDisk) OnAdd(ctx context.Context) {
	f := d.NewPersistentInode(ctx, &faultyFile{d: d}, gofs.StableAttr{Mode: syscall.S_IFREG})
	d.AddChild("disk.iso", f, false)
	d.file = f
}

type faultyFile struct {
	gofs.Inode
	d *faultyDisk
}

var (
	_ gofs.NodeGetattrer = (*faultyFile)(nil)
	_ gofs.NodeOpener    = (*faultyFile)(nil)
	_ gofs.NodeReader    = (*faultyFile)(nil)
)

func (f *faultyFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Size = uint64(len(f.d.data))
	return 0
}

func (f *faultyFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *faultyFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	end := min(off+int64(len(dest)), int64(len(f.d.data)))

	if off >= end {
		return fuse.ReadResultData(nil), 0
	}
	f.d.mu.RLock()
	for _, b := range f.d.bad {
		if off < b[1] && end > b[0] {
			f.d.mu.RUnlock()
			f.d.mu.Lock()
			f.d.eio++
			f.d.mu.Unlock()
			return nil, syscall.EIO
		}
	}
	f.d.mu.RUnlock()
	return fuse.ReadResultData(f.d.data[off:end]), 0
}
