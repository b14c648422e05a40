package isofmt

import "github.com/isofsd/isofsd/isofmt/internal/core"

// formatErr builds a *FormatError wrapping sentinel; see core.Errorf.
func formatErr(structure string, offset int64, sentinel error, format string, args ...any) error {
	return core.Errorf(structure, offset, sentinel, format, args...)
}
