// Package udf reads UDF file systems (ECMA-167 3rd edition, OSTA UDF 1.02
// to 2.60) from an image held in an io.ReaderAt: the volume recognition
// sequence and anchors, the volume descriptor sequences, physical, sparable,
// virtual (VAT) and metadata partitions, file and extended file entries and
// directories. It implements core.Tree for isofmt, which prefers the UDF
// tree whenever an image carries one (Windows install media keep their real
// files only there).
//
// The reader is lazy (a directory is parsed when it is listed) and assumes
// the input is hostile: every descriptor's tag checksum, CRC and location is
// verified, every length and count is checked before use, and every chain
// (descriptor pointers, indirect entries, allocation extents, directory
// depth) is capped by a named constant. File data is never read here: a
// file is described by its extents as image byte offsets.
package udf

import (
	"fmt"
	"io"
	"sync"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// Safety limits. They are far above what real writers produce and keep
// hostile images from costing unbounded time or memory.
const (
	// maxVDSChain caps volume descriptor pointer hops (the Linux kernel uses 64 too).
	maxVDSChain = 64
	// maxVDSDescriptors caps the descriptors read from one volume descriptor sequence.
	maxVDSDescriptors = 1024
	// maxPartitionMaps caps the partition maps of a logical volume.
	maxPartitionMaps = 64
	// maxIndirect caps indirect entries followed to reach a file entry.
	maxIndirect = 16
	// maxDepth caps directory nesting (ICB nesting in the kernel's terms).
	maxDepth = 1024
	// maxAEDChain caps allocation extent descriptors chained from one file entry.
	maxAEDChain = 1 << 16
	// maxExtents caps the data extents of one file.
	maxExtents = 1 << 20
	// maxDirSize caps the bytes of one directory read into memory.
	maxDirSize = 64 << 20
	// maxFIDs caps the entries of one directory.
	maxFIDs = 1 << 20
	// maxSymlinkSize caps the path component data of a symbolic link.
	maxSymlinkSize = 64 << 10
	// maxVATSize caps the virtual allocation table read into memory.
	maxVATSize = 64 << 20
	// maxVATSearch is how many blocks before the end of the image are searched for the VAT's ICB.
	maxVATSearch = 64
	// maxDescriptorSize caps a volume descriptor spanning several blocks (a long partition map table).
	maxDescriptorSize = 64 << 10
	// maxWarnings caps warnings kept (a damaged image could produce one per entry).
	maxWarnings = 200
)

// PartitionMapInfo describes one partition map of the logical volume.
type PartitionMapInfo struct {
	// Type is "physical", "virtual", "sparable", "metadata" or "unknown".
	Type string
	// PartitionNumber is the number of the partition descriptor the map refers to.
	PartitionNumber uint16
	// VolumeSequenceNumber is the volume of a multi-volume set the partition is on.
	VolumeSequenceNumber uint16
	// Start and Length are the underlying partition's extent in bytes of the image.
	Start, Length int64
	// PacketLength is the sparing packet length in blocks (sparable maps).
	PacketLength uint32
	// SparingEntries is the number of remapped packets (sparable maps).
	SparingEntries int
	// SparingTables lists the sectors of the sparing table copies (sparable maps).
	SparingTables []uint32
	// VATEntries is the number of virtual blocks (virtual maps).
	VATEntries int
	// MetadataFile, MirrorFile are the logical blocks of the metadata (mirror) file entries.
	MetadataFile, MirrorFile uint32
	// UsingMirror reports that the metadata file was damaged and its mirror is used.
	UsingMirror bool
}

// Info summarises a UDF volume for `isofsd info`.
type Info struct {
	// Revision is the UDF revision from the domain identifier, e.g. 0x0250.
	Revision uint16
	// NSR is 2 or 3 (the NSR0x descriptor found in the recognition sequence), 0 if absent.
	NSR             int
	VolumeID        string
	VolumeSetID     string
	LogicalVolumeID string
	FileSetID       string
	// BlockSize is the logical block size in bytes.
	BlockSize int
	// PartitionMaps lists the maps in order: a long_ad's partition reference indexes this list.
	PartitionMaps []PartitionMapInfo
	// PartitionStart and PartitionLength are the byte extent of the first physical partition.
	PartitionStart, PartitionLength int64
	// Anchors lists the logical blocks where valid anchors were found.
	Anchors []int64
	// LastAnchor is the byte end of the last UDF volume structure found (the highest anchor
	// or partition end): bytes of the image past it belong to no UDF structure.
	LastAnchor int64
	// Warnings lists damage that was worked around while opening.
	Warnings []string
}

// Volume is an opened UDF volume. It is safe for concurrent use.
type Volume struct {
	r    io.ReaderAt
	size int64
	bs   int64
	// parts is indexed by partition reference number (the map index).
	parts []*partition
	root  longAD
	info  Info

	mu       sync.Mutex
	warnings []string
}

var _ core.Tree = (*Volume)(nil)

// Kind names the tree for isofmt.
func (v *Volume) Kind() string { return "udf" }

// Info returns the volume summary, including warnings gathered so far.
func (v *Volume) Info() Info {
	in := v.info
	in.PartitionMaps = append([]PartitionMapInfo(nil), v.info.PartitionMaps...)
	v.mu.Lock()
	in.Warnings = append([]string(nil), v.warnings...)
	v.mu.Unlock()
	return in
}

func (v *Volume) warnf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.warnings) < maxWarnings {
		v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
	}
}

// read returns n bytes at off, failing with ErrTruncated past the image end.
func (v *Volume) read(off int64, n int, structure string) ([]byte, error) {
	if off < 0 || n < 0 || off > v.size || int64(n) > v.size-off {
		return nil, core.Errorf(structure, off, core.ErrTruncated, "%d bytes at byte %d lie beyond the %d-byte image", n, off, v.size)
	}
	b := make([]byte, n)
	if _, err := v.r.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, &core.FormatError{Structure: structure, Offset: off, Err: err}
	}
	return b, nil
}
