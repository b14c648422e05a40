package isofmt

import (
	"io"

	"github.com/isofsd/isofsd/isofmt/udf"
)

// openUDF opens the UDF tree if the image has one; the error wraps
// ErrNotISO when there is no UDF volume at all.
func openUDF(r io.ReaderAt, size int64) (*udf.Volume, error) {
	return udf.Open(r, size)
}

// UDFInfo describes the UDF volume, nil when the image has none.
func (img *Image) UDFInfo() *udf.Info {
	v, ok := img.vol.trees[TreeUDF].(*udf.Volume)
	if !ok {
		return nil
	}
	in := v.Info()
	return &in
}
