//go:build !unix && !windows

package extract

import (
	"errors"
	"io/fs"
	"os"
)

func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

func setFileTimes(*os.File, int64, int64) error { return errors.ErrUnsupported }
