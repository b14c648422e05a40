//go:build !linux

package automp

import "errors"

// ErrNoPlace means there is no place for an automatic mountpoint: they
// are made on Linux only (on Windows, mount on "*" for a free drive
// letter; on macOS, name a directory).
var ErrNoPlace = errors.New("automp: automatic mountpoints are made on Linux only (on Windows, mount on * for a free drive letter)")

// Config says where automatic mountpoints go (Linux).
type Config struct {
	MediaDir   string
	User       string
	RuntimeDir string
	UID        int
}

// DefaultConfig is the empty configuration here.
func DefaultConfig() Config { return Config{} }

// Dir is a mountpoint directory made by Create (never, here).
type Dir struct {
	Path         string
	Parent, Name string
	Reused       bool
}

// Create fails: see ErrNoPlace.
func (c Config) Create(label, imagePath string) (*Dir, error) { return nil, ErrNoPlace }

// Create fails: see ErrNoPlace.
func Create(label, imagePath string) (*Dir, error) { return nil, ErrNoPlace }

// Release has nothing to unlock.
func (d *Dir) Release() {}

// Remove has nothing to remove.
func (d *Dir) Remove() error { return nil }
