//go:build !unix

package extract

import (
	"errors"
	"io/fs"
	"os"
)

// openDestDir opens DIR as given, creating it when asked: on this system
// its path is followed as the system resolves it (see README's platform
// notes); everything below it is written through os.Root.
func openDestDir(dir string, create, _ bool) (dirHandle, error) {
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return openRootDest(dir)
}

// processUmask: unknown here, so permissions are always set explicitly.
func processUmask() (fs.FileMode, bool) { return 0, false }
