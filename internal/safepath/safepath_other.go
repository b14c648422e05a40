//go:build !linux

package safepath

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// ErrUntrusted is wrapped by every refusal (see the Linux build).
var ErrUntrusted = errors.New("untrusted path")

// errUnsupported: the walk needs Linux's O_PATH descriptors; its callers
// (desktop integration, systemd units) are Linux's.
var errUnsupported = fmt.Errorf("safepath: not supported on %s", runtime.GOOS)

// Policy says which files and directories may be relied on.
type Policy struct {
	Trusted            func(uid uint32) bool
	GroupWrite, Sticky bool
}

// Mine trusts the caller and root.
func Mine() Policy { return Policy{} }

// RootOnly trusts root alone.
func RootOnly() Policy { return Policy{} }

// Options of a walk.
type Options struct{ FollowLast, Create bool }

// Dir is a directory a walk reached (never, here).
type Dir struct{}

// Walk is not supported here.
func Walk(path string, p Policy, o Options) (*Dir, string, []string, error) {
	return nil, "", nil, errUnsupported
}

// OpenDir is not supported here.
func OpenDir(path string, p Policy, o Options) (*Dir, []string, error) {
	return nil, nil, errUnsupported
}

// CheckFile is not supported here.
func CheckFile(path string, p Policy) (string, error) { return "", errUnsupported }

// Path is empty here.
func (d *Dir) Path() string { return "" }

// Close has nothing to close.
func (d *Dir) Close() error { return nil }

// ProcPath is not supported here.
func (d *Dir) ProcPath(name string) string { return "" }

// Open is not supported here.
func (d *Dir) Open(name string) (*os.File, error) { return nil, errUnsupported }

// Lstat is not supported here.
func (d *Dir) Lstat(name string) (os.FileInfo, error) { return nil, errUnsupported }

// Remove is not supported here.
func (d *Dir) Remove(name string) error { return errUnsupported }
