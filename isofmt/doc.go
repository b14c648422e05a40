// Package isofmt reads ISO 9660 images — with Joliet, Rock Ridge, zisofs,
// multi-extent files, El Torito and hybrid MBR/GPT system areas — and UDF
// (through its udf sub-package), and presents the chosen directory tree as an
// io/fs file system.
//
// It is the one parser every isofsd command uses. Open takes any io.ReaderAt
// (a file, a block device, a section of a disk being carved, an HTTP range
// reader) and reads only the volume descriptors; directories are parsed on
// demand, one at a time, through a bounded sector cache. Nothing is allocated
// from a size the image merely claims, every chain is capped by a named
// constant, and damage is reported as a *FormatError naming the structure
// and its byte offset (sector), wrapping one of the sentinel errors below.
//
// The package does no logging and imports nothing OS- or FUSE-specific.
package isofmt

import (
	"errors"
	"time"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotISO      = core.ErrNotISO
	ErrCorrupt     = core.ErrCorrupt
	ErrUnsupported = core.ErrUnsupported
	ErrLimit       = core.ErrLimit
	ErrTruncated   = core.ErrTruncated
	// ErrChanged means the image file was rewritten after it was opened:
	// its volume descriptors no longer match, so it holds another image
	// (see filesrc.File).
	ErrChanged = core.ErrChanged
	// ErrUnknownTree means a tree name other than TreeNames was asked for.
	ErrUnknownTree = errors.New("isofmt: unknown tree")
	// ErrNoTree means the image lacks the tree asked for.
	ErrNoTree = errors.New("isofmt: tree not present")
)

type (
	// FormatError names the on-disk structure that failed and its byte offset.
	FormatError = core.FormatError
	// Stat is what FileInfo.Sys() returns: inode, links, owner, times, extents.
	Stat = core.Stat
	// Extent is one run of file data in the image (or a sparse run of zeros).
	Extent = core.Extent
	// Zisofs describes a transparently decompressed Rock Ridge ZF file.
	Zisofs = core.Zisofs
	// Node is one directory entry of the selected tree.
	Node = core.Node
	// Timestamp is a time recorded on the image (8 bytes; zero means absent).
	Timestamp = core.Timestamp
)

// TimestampOf converts a time.Time (the zero time gives the zero Timestamp).
func TimestampOf(t time.Time) Timestamp { return core.TimestampOf(t) }

// Safety limits. They bound the work and memory any image can cause.
const (
	// MaxDescriptors caps the volume descriptors read before a terminator.
	MaxDescriptors = 64
	// MaxCEHops caps Rock Ridge continuation-area chains (as Linux does).
	MaxCEHops = 32
	// MaxDepth caps directory nesting in path walks.
	MaxDepth = 1000
	// MaxDirSize caps the bytes of one ISO 9660 directory that are parsed.
	MaxDirSize = 64 << 20
	// MaxDirEntries caps the entries returned for one directory.
	MaxDirEntries = 1 << 20
	// MaxNameLen caps Rock Ridge / Joliet name length in bytes.
	MaxNameLen = 1024
	// MaxLinkLen caps symlink target length in bytes.
	MaxLinkLen = 4096
	// MaxSymlinkHops caps symlink resolution in Open (like Linux's 40).
	MaxSymlinkHops = 40
	// MaxExtentsPerFile caps multi-extent / interleaved extent lists.
	MaxExtentsPerFile = 1 << 16
	// MaxWalkEntries caps the entries one Walk visits: an image can claim
	// any number of entries, and a real one has far fewer.
	MaxWalkEntries = 10_000_000
)
