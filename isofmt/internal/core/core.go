// Package core holds the types shared by isofmt and its tree sub-packages
// (udf): error sentinels, the per-file Stat record, extents, and the Tree
// interface every on-disk directory format implements. It exists only to
// break the import cycles between isofmt and its sub-packages (udf, and
// the filesrc source that reports ErrChanged); isofmt re-exports
// everything here under its own names.
package core

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotISO means no ISO 9660 or UDF volume was recognised.
	ErrNotISO = errors.New("isofmt: not an ISO 9660 or UDF image")
	// ErrCorrupt means a structure on the image is damaged or inconsistent.
	ErrCorrupt = errors.New("isofmt: corrupt image")
	// ErrUnsupported means the structure is valid but uses a feature isofmt does not implement.
	ErrUnsupported = errors.New("isofmt: unsupported feature")
	// ErrLimit means a structure exceeds one of isofmt's safety limits (depth, chain length, size).
	ErrLimit = errors.New("isofmt: safety limit exceeded")
	// ErrTruncated means a structure or file extent lies beyond the end of the image.
	ErrTruncated = errors.New("isofmt: image truncated")
	// ErrChanged means the image file was rewritten after it was opened:
	// its volume descriptors no longer match, so it holds another image.
	ErrChanged = errors.New("isofmt: image file was replaced since it was opened")
)

// FormatError names the on-disk structure that failed and where it is.
type FormatError struct {
	Structure string // e.g. "primary volume descriptor", "udf file entry"
	Offset    int64  // byte offset in the image, -1 if unknown
	Err       error
}

func (e *FormatError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at byte %d (sector %d): %v", e.Structure, e.Offset, e.Offset/2048, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Structure, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Errorf builds a *FormatError whose Err wraps sentinel with a formatted detail.
func Errorf(structure string, offset int64, sentinel error, format string, args ...any) error {
	return &FormatError{Structure: structure, Offset: offset, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// Extent is one contiguous run of a file's data.
type Extent struct {
	// Offset is the byte offset in the image (ignored when Sparse).
	Offset int64
	// Length is the number of bytes of file data in this run.
	Length int64
	// Sparse runs are not recorded on the image and read back as zeros.
	Sparse bool
}

// Zisofs describes a transparently compressed (Rock Ridge ZF) file.
type Zisofs struct {
	// HeaderSize is the header size in 4-byte words, as in the ZF entry.
	HeaderSize uint8
	// BlockShift is log2 of the uncompressed block size (15..17).
	BlockShift uint8
	// RealSize is the uncompressed size of the file.
	RealSize int64
}

// Timestamp is a time recorded on the image, kept in 8 bytes without
// pointers: a mounted tree of 100 000 files holds four per file, and
// time.Time's 24 bytes (with a zone pointer the garbage collector must
// follow) made up more than a third of every parsed entry. It keeps the
// instant to the nanosecond (finer than any on-disk format: ISO 9660
// and Rock Ridge record centiseconds, UDF microseconds) but not the zone
// it was recorded in; instants outside what int64 nanoseconds since 1970
// hold (years 1678 to 2262) are clamped to that range, as the kernel
// clamps file times. The zero Timestamp means absent.
type Timestamp struct {
	// v is the Unix time in nanoseconds, plus one when not negative, so
	// that 0 is free to mean absent.
	v int64
}

// Range of Timestamp, in Unix seconds (a margin inside int64 nanoseconds).
const (
	minTimestampSec = math.MinInt64/1_000_000_000 + 1
	maxTimestampSec = math.MaxInt64/1_000_000_000 - 1
)

// TimestampOf converts t; the zero time.Time gives the zero Timestamp.
func TimestampOf(t time.Time) Timestamp {
	if t.IsZero() {
		return Timestamp{}
	}
	sec := t.Unix()
	switch {
	case sec < minTimestampSec:
		t = time.Unix(minTimestampSec, 0)
	case sec > maxTimestampSec:
		t = time.Unix(maxTimestampSec, 0)
	}
	ns := t.UnixNano()
	if ns >= 0 {
		ns++
	}
	return Timestamp{v: ns}
}

// IsZero reports whether the time is absent.
func (t Timestamp) IsZero() bool { return t.v == 0 }

// UnixNano returns the time in nanoseconds since 1970-01-01 UTC (0 when
// absent).
func (t Timestamp) UnixNano() int64 {
	if t.v > 0 {
		return t.v - 1
	}
	return t.v
}

// Time returns the time in UTC, or the zero time.Time when absent.
func (t Timestamp) Time() time.Time {
	if t.v == 0 {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// String formats the time as RFC 3339 in UTC ("-" when absent).
func (t Timestamp) String() string {
	if t.v == 0 {
		return "-"
	}
	return t.Time().Format(time.RFC3339Nano)
}

// Stat is what FileInfo.Sys() returns for every file of an opened image.
// Its fields are ordered to pack: a Node is 184 bytes.
type Stat struct {
	// Inode is stable across opens of the same image: derived from the
	// on-disk location of the entry (or a Rock Ridge serial), never 0.
	Inode uint64
	// Nlink is the link count (Rock Ridge PX / UDF file link count, else 1 or 2).
	Nlink uint32
	// Mode holds the type bits and permissions.
	Mode fs.FileMode
	// UID and GID are the owner recorded on the image; both 0 when
	// HasOwner is false. Use Owner to show them.
	UID, GID uint32
	// HasOwner reports whether UID/GID come from the image (Rock Ridge, or
	// UDF with both ids specified: UDF's 0xFFFFFFFF means "not recorded").
	HasOwner bool
	// HasPerm reports whether the permission bits come from the image.
	HasPerm bool
	// Hidden is set for entries flagged hidden/existence on the image.
	Hidden bool
	// Rdev is the device number of a character/block device (Rock Ridge PN), as major<<32|minor.
	Rdev uint64
	// Size is the logical file size (uncompressed for zisofs).
	Size int64
	// Times; the zero Timestamp means absent.
	ModTime, AccessTime, ChangeTime, BirthTime Timestamp
	// Extents lists the file data runs in order (their lengths sum to the stored size).
	Extents []Extent
	// Zisofs is non-nil for compressed files.
	Zisofs *Zisofs
	// Target is the symlink target.
	Target string
	// Location is the byte offset of the entry's on-disk record (directory
	// record, or UDF file entry), for diagnostics.
	Location int64
}

// Owner is the owner to present for the entry: the ids recorded on the
// image, or, for trees and entries that record none (Joliet, plain ISO
// 9660, UDF with unset ids), uid and gid — the user who mounts, extracts
// or lists. It is the one rule ls, mount and extract follow.
func (s *Stat) Owner(uid, gid uint32) (uint32, uint32) {
	if s.HasOwner {
		return s.UID, s.GID
	}
	return uid, gid
}

// DataOffset is the image byte offset where the entry's data starts (its
// first extent recorded on the image) and true, or 0 and false for entries
// with no data on the image (empty or wholly sparse files, UDF data kept
// inside the file entry). It is the one answer to "which sector is this
// file" for extended attributes, messages and loop detection.
func (s *Stat) DataOffset() (int64, bool) {
	for _, e := range s.Extents {
		if !e.Sparse {
			return e.Offset, true
		}
	}
	return 0, false
}

// Sector is the 2 KiB sector to name in a message about the entry: where
// its data starts, or else where its record is.
func (s *Stat) Sector() int64 {
	if off, ok := s.DataOffset(); ok {
		return off / 2048
	}
	return s.Location / 2048
}

// DevMajor returns the major number of a device node (from Rdev).
func (s *Stat) DevMajor() uint32 { return uint32(s.Rdev >> 32) }

// DevMinor returns the minor number of a device node (from Rdev).
func (s *Stat) DevMinor() uint32 { return uint32(s.Rdev) }

// StoredSize is the number of data bytes the extents cover.
func (s *Stat) StoredSize() int64 {
	var n int64
	for _, e := range s.Extents {
		n += e.Length
	}
	return n
}

// Node is one directory entry of a tree. Directory nodes carry a
// tree-private Ref that ReadDir uses to find their contents.
type Node struct {
	Name string
	Stat Stat
	// Ref is private to the Tree that produced the node.
	Ref any
	// Err, when set, is returned by ReadDir on this node (e.g. a directory
	// whose parent link is inconsistent and may form a cycle).
	Err error
}

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.Stat.Mode.IsDir() }

// Tree is one directory hierarchy of an image (plain ISO 9660, Joliet,
// Rock Ridge, UDF). Implementations parse lazily: ReadDir reads only the
// directory asked for. They must be safe for concurrent use.
type Tree interface {
	// Kind names the tree ("udf", "rockridge", "joliet", "iso9660").
	Kind() string
	// Root returns the root directory node.
	Root() (*Node, error)
	// ReadDir returns the entries of dir, without "." and "..", in on-disk order.
	ReadDir(dir *Node) ([]*Node, error)
}

// PathElement turns a decoded on-disk name into one usable POSIX path
// component, the same way for every tree: NUL and '/' become '_', and the
// names "", "." and ".." (which would alias the directory itself or its
// parent) become "_", "_" and "__". Other bytes are kept as recorded.
func PathElement(s string) string {
	if strings.ContainsAny(s, "/\x00") {
		b := []byte(s) // bytewise, so invalid UTF-8 stays as recorded
		for i, c := range b {
			if c == '/' || c == 0 {
				b[i] = '_'
			}
		}
		s = string(b)
	}
	switch s {
	case "", ".":
		return "_"
	case "..":
		return "__"
	}
	return s
}
