package isofmt

import (
	"fmt"
	"io"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// openUDF opens the UDF tree if the image has one.
func openUDF(r io.ReaderAt, size int64) (core.Tree, error) {
	return nil, fmt.Errorf("%w: udf not wired yet", ErrNotISO)
}
