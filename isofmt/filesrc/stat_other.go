//go:build !unix

package filesrc

import "os"

// fstat stats f (there is no cheaper call to go by here).
func fstat(f *os.File, _ uintptr) (fileState, error) {
	st, err := f.Stat()
	if err != nil {
		return fileState{}, err
	}
	return fileState{regular: st.Mode().IsRegular(), size: st.Size(), mtime: st.ModTime()}, nil
}
