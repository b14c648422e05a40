package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// dirKey identifies a directory by where its data is, so a directory
// reached twice (a loop or a shared extent in a hostile image) is noticed
// even when the two directory records differ; without data extents (UDF
// in-ICB directories) the inode stands in.
func dirKey(st *isofmt.Stat) int64 {
	if off, ok := st.DataOffset(); ok {
		return off
	}
	return -int64(st.Inode) - 1
}

// checkName refuses names that cannot be one path element on this host.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name %q would leave its directory", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("name %q holds a slash", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name %q holds a NUL byte", name)
	}
	return nil
}
