//go:build !unix && !windows

package extract

import (
	"errors"
	"os"
)

func setFileTimes(*os.File, int64, int64) error { return errors.ErrUnsupported }
