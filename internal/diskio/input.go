package diskio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotInput is wrapped by OpenInput's refusals: the path exists but is
// not something an image can be read from.
var ErrNotInput = errors.New("not a regular file or block device")

// InputError says what a refused input path is.
type InputError struct {
	Path string
	Kind string // "directory", "named pipe (FIFO)", "character device", "socket"
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: is a %s, %v", e.Path, e.Kind, ErrNotInput)
}

// Is makes errors.Is(err, ErrNotInput) true.
func (e *InputError) Is(target error) bool { return target == ErrNotInput }

// Input is an opened, vetted image or source.
type Input struct {
	*os.File
	// Size is the file's size, or the device's capacity.
	Size int64
	// Device is set for block devices (and macOS raw disks).
	Device bool
}

// OpenInput opens path for reading as an image or a copy source. It is
// the one place that decides what may be read as one: a regular file or a
// block device (on macOS also a raw /dev/rdiskN). A FIFO would block every
// reader forever, a directory reports nonsense sizes (2^63-1 from lseek on
// some file systems), and a character device such as /dev/zero never
// ends: each is refused with an *InputError. The open itself cannot block
// on a FIFO (it is done non-blocking, then checked with fstat).
func OpenInput(path string) (*Input, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	in := &Input{File: f}
	switch m := st.Mode(); {
	case isDisk(path, m):
		in.Device = true
		// Stat reports 0 for devices; seeking to the end gives the capacity.
		size, err := f.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: size of the device: %w", path, err)
		}
		in.Size = size
	case m.IsRegular():
		in.Size = st.Size()
	default:
		f.Close()
		return nil, &InputError{Path: path, Kind: KindOf(m)}
	}
	return in, nil
}

// KindOf names the type of a file that is not a regular file, for
// messages: "directory", "named pipe (FIFO)", "character device", "block
// device", "socket", "symbolic link", else "special file".
func KindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// ReopenDirect opens the same file again through OpenDirect, read-only,
// for reads that must bypass the page cache (a failing disc's errors are
// hidden or multiplied by read-ahead). It reopens the open file itself
// where the system allows (/proc/self/fd on Linux), so that a path swapped
// since OpenInput cannot substitute another file; elsewhere it checks that
// the path still names the same file.
func (in *Input) ReopenDirect() (f *os.File, direct bool, err error) {
	f, direct, err = OpenDirect(reopenPath(in.File), os.O_RDONLY|reopenFlag, 0)
	if err != nil {
		return nil, false, err
	}
	a, err1 := in.File.Stat()
	b, err2 := f.Stat()
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		f.Close()
		return nil, false, fmt.Errorf("%s: changed while being opened", in.Name())
	}
	return f, direct, nil
}
