// Package fsmeta holds what the file-system readers under recover/ (ntfs,
// exfat, ext4j, fat) report about a deleted file: its name, size and
// extents, and what the file system says about whether its clusters still
// hold its data. It is the one vocabulary package recover uses to rebuild
// and judge files, whichever file system they came from.
package fsmeta

import (
	"errors"
	"sort"
	"time"
)

// ErrNotFound is returned by a reader's Open when the bytes are not its
// file system.
var ErrNotFound = errors.New("file system not recognised")

// Extent is one run of a file. Physical is a byte offset in the reader's
// source (the partition or image it was opened on); a Zero extent is a
// hole (sparse run, unwritten or uninitialised area) that reads as zeros.
type Extent struct {
	Logical  int64 `json:"logical"`
	Physical int64 `json:"physical"`
	Length   int64 `json:"length"`
	Zero     bool  `json:"zero,omitempty"`
}

// File is a deleted file as the file system's metadata describes it.
type File struct {
	FS   string `json:"fs"`   // "ntfs", "exfat", "ext4", "fat"
	ID   string `json:"id"`   // where the metadata was: "MFT record 64", "inode 12 (journal block 812)"
	Name string `json:"name"` // original name, "" when the file system lost it
	Path string `json:"path,omitempty"`
	Size int64  `json:"size"`
	// Modified is the file's last modification time, when known; it orders
	// deleted files that claim the same clusters.
	Modified time.Time `json:"modified,omitzero"`
	Extents  []Extent  `json:"extents"`
	// Complete is set when the extents come from the file system's record
	// of this file (not from an assumption) and cover its whole size.
	Complete bool `json:"complete"`
	// Free is set when every cluster of the extents is free in the file
	// system's allocation map now: no live file took them since deletion.
	// It says nothing about whether the extents are the file's (Complete).
	Free bool `json:"free"`
	// Notes say what was assumed or what is missing (a zeroed FAT chain
	// taken as contiguous over free clusters, an unreadable extension
	// record, a compressed attribute, ...).
	Notes []string `json:"notes,omitempty"`
	// Claims are the parts of the extents that the file system's own
	// records show were written with something else: its metadata (an
	// extent tree, directory, attribute or journaled block) placed there
	// after the clusters were this file's, or possibly after. A free
	// cluster in the allocation map says nothing about such writes: the
	// metadata of a file deleted later is free too.
	Claims []Claim `json:"claims,omitempty"`
}

// Claim is a run of a file's clusters (Physical and Length as in Extent)
// that the file system wrote other bytes to.
type Claim struct {
	Physical int64  `json:"physical"`
	Length   int64  `json:"length"`
	What     string `json:"what"` // "an extent tree block of inode 13 (transaction 9)"
	// After is set when the write came after the file's last recorded
	// state: the bytes there are certainly not the file's. Otherwise the
	// order is unknown and the bytes are in doubt.
	After bool `json:"after,omitempty"`
}

// AddClaim appends a claim, merging it with the previous one when they
// touch and say the same.
func (f *File) AddClaim(c Claim) {
	if n := len(f.Claims); n > 0 {
		p := &f.Claims[n-1]
		if p.Physical+p.Length == c.Physical && p.What == c.What && p.After == c.After {
			p.Length += c.Length
			return
		}
	}
	f.Claims = append(f.Claims, c)
}

// ClaimedRanges returns the claimed parts of f as f's own (logical) byte
// ranges: those written after the file's last state (certain) and those
// whose order is unknown (doubtful).
func (f *File) ClaimedRanges() (certain, doubtful []Extent) {
	for _, c := range f.Claims {
		g := &File{Extents: []Extent{{Physical: c.Physical, Length: c.Length}}}
		for _, e := range SharedRanges(f, g) {
			if c.After {
				certain = append(certain, e)
			} else {
				doubtful = append(doubtful, e)
			}
		}
	}
	return certain, doubtful
}

// Stored is the number of bytes the extents map (holes included), capped
// at the file size.
func (f *File) Stored() int64 {
	var n int64
	for _, e := range f.Extents {
		n = max(n, min(e.Logical+e.Length, f.Size))
	}
	return n
}

// Overlaps returns how many bytes the data extents of a and b share
// (sorted sweep: files can have tens of thousands of extents).
func Overlaps(a, b *File) int64 {
	x, y := dataRuns(a), dataRuns(b)
	var n int64
	for i, j := 0, 0; i < len(x) && j < len(y); {
		lo, hi := max(x[i].Physical, y[j].Physical), min(x[i].Physical+x[i].Length, y[j].Physical+y[j].Length)
		if hi > lo {
			n += hi - lo
		}
		if x[i].Physical+x[i].Length < y[j].Physical+y[j].Length {
			i++
		} else {
			j++
		}
	}
	return n
}

// dataRuns is f's non-hole extents sorted by physical offset.
func dataRuns(f *File) []Extent {
	var out []Extent
	for _, e := range f.Extents {
		if !e.Zero && e.Length > 0 {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Physical < out[j].Physical })
	return out
}

// Append adds a run at the end of the file's extents, merging it with the
// previous one when they touch, and reports false when the file already
// has max extents (a hostile runlist can claim millions).
func (f *File) Append(e Extent, maxExtents int) bool {
	if e.Length <= 0 {
		return true
	}
	if n := len(f.Extents); n > 0 {
		p := &f.Extents[n-1]
		if p.Logical+p.Length == e.Logical && p.Zero == e.Zero && (e.Zero || p.Physical+p.Length == e.Physical) {
			p.Length += e.Length
			return true
		}
	}
	if len(f.Extents) >= maxExtents {
		return false
	}
	f.Extents = append(f.Extents, e)
	return true
}

// Trim cuts the extents at the file size: file systems allocate whole
// clusters, and the slack after the last byte is no part of the file.
func (f *File) Trim() {
	out := f.Extents[:0]
	for _, e := range f.Extents {
		if e.Logical >= f.Size {
			break
		}
		e.Length = min(e.Length, f.Size-e.Logical)
		out = append(out, e)
	}
	f.Extents = out
}

// SharedRanges returns the parts of a's data, as a's own (logical) byte
// ranges, that lie on clusters b's data extents also claim.
func SharedRanges(a, b *File) []Extent {
	y := dataRuns(b)
	var out []Extent
	for _, x := range a.Extents {
		if x.Zero {
			continue
		}
		i := sort.Search(len(y), func(i int) bool { return y[i].Physical+y[i].Length > x.Physical })
		for ; i < len(y) && y[i].Physical < x.Physical+x.Length; i++ {
			lo, hi := max(x.Physical, y[i].Physical), min(x.Physical+x.Length, y[i].Physical+y[i].Length)
			if hi > lo {
				out = append(out, Extent{Logical: x.Logical + lo - x.Physical, Physical: lo, Length: hi - lo})
			}
		}
	}
	return out
}

// AllFree reports whether every allocation unit under f's data extents
// is free: units of unit bytes counted from byte base of the file
// system (unit 0 starts there), free(i) telling for unit i. Data before
// base lies on no unit and counts as in use. Each reader's allocation
// map (a bitmap, a FAT) answers free; the walk over the extents is this
// one.
func AllFree(f *File, base, unit int64, free func(i int64) bool) bool {
	if unit <= 0 {
		return false
	}
	for _, e := range f.Extents {
		if e.Zero || e.Length <= 0 {
			continue
		}
		if e.Physical < base {
			return false
		}
		for i := (e.Physical - base) / unit; base+i*unit < e.Physical+e.Length; i++ {
			if !free(i) {
				return false
			}
		}
	}
	return true
}
