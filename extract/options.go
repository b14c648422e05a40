package extract

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// Overwrite says what happens when a name to be written exists in DIR.
// An existing real directory is merged into under every policy, and
// keeps its own owner and mode.
type Overwrite int

const (
	// Refuse leaves the existing entry alone and reports it as a problem
	// (the default).
	Refuse Overwrite = iota
	// Skip leaves the existing entry alone quietly (7-Zip's -aos).
	Skip
	// Replace writes the image's entry in its place (7-Zip's -aoa): a
	// file is written under a temporary name and renamed over the old
	// one once complete, so an interrupted run keeps the old file; an
	// old symlink is replaced, never followed; an old directory only
	// when empty.
	Replace
	// Rename writes the image's entry under a free name, name_1.ext,
	// name_2.ext, ... (7-Zip's -aou).
	Rename
)

func (o Overwrite) String() string {
	switch o {
	case Refuse:
		return "refuse"
	case Skip:
		return "skip"
	case Replace:
		return "replace"
	case Rename:
		return "rename"
	}
	return fmt.Sprintf("Overwrite(%d)", int(o))
}

// Metadata says which attributes are restored. The zero value restores
// modes, times and hard links, but neither owners nor device nodes.
type Metadata struct {
	// Owners restores the image's uid and gid, and with them the set-id
	// bits (as tar does: a set-id bit for another owner is a gift).
	// Needs root, and a system with owners (not Windows).
	Owners bool
	// Devices creates character and block devices (root only).
	Devices bool
	// NoModes creates files 0644 and directories 0755, less the umask.
	NoModes bool
	// NoTimes leaves modification and access times at the time of writing.
	NoTimes bool
	// NoLinks writes each name of a hard-linked file as its own copy.
	NoLinks bool
}

// DefaultMetadata restores what the caller may: everything, and owners
// and devices only when running as root.
func DefaultMetadata() Metadata {
	root := os.Geteuid() == 0
	return Metadata{Owners: root, Devices: root}
}

// Range is a byte range of a file.
type Range struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// End is the offset just past the range.
func (r Range) End() int64 { return r.Offset + r.Length }

// Decision is a Filter's verdict on one regular file.
type Decision struct {
	// Skip leaves the file out; Reason says why (reported as skipped).
	Skip   bool
	Reason string
	// Ranges, when not nil, are the only parts of the file to copy, in
	// order and not overlapping; the rest is left as a hole (it reads as
	// zeros and takes no space where the file system supports sparse
	// files) and the file is reported as partial, with Reason.
	Ranges []Range
}

// Filter decides, for each regular file selected, whether to copy all of
// it, none of it or some byte ranges (recover.Salvage leaves out what lies
// on unreadable or damaged parts of an image). path is the image path.
type Filter func(path string, n *isofmt.Node) Decision

// Progress receives the byte counts of file data as it is copied.
type Progress interface {
	// Start is called once, before any data is copied, with the total.
	Start(total int64)
	// Add is called from several goroutines as bytes are written.
	Add(n int64)
}

// Options say what Run extracts and how. The zero value extracts
// everything with the default policies: refuse to replace anything,
// restore modes, times and hard links.
type Options struct {
	// Include selects entries by image path, without a leading "/":
	// each "/"-separated element is matched with path.Match ("*" does
	// not cross "/"), and an element "**" matches any number of
	// elements. A match on a directory selects everything below it.
	// Empty selects everything. A pattern that matches nothing is
	// reported as a problem.
	Include []string
	// Exclude leaves out what it matches (a directory with everything
	// below it), even when Include selects it. A pattern without "/"
	// matches an entry's name at any depth ("*.bak"); one with "/" is
	// matched like Include against the whole path ("docs/**/*.pdf").
	Exclude []string
	// Boot also writes the El Torito boot images to DIR/[BOOT]/.
	Boot bool
	// Overwrite is the policy for names that exist in DIR.
	Overwrite Overwrite
	// Metadata is what is restored besides contents.
	Metadata Metadata
	// Workers is the number of parallel copies (0: the number of CPUs,
	// at most 8).
	Workers int
	// Filter, if set, is asked about each selected regular file.
	Filter Filter
	// Progress, if set, is told the total and the bytes copied.
	Progress Progress
	// Report, if set, receives every event; calls are serialised.
	Report func(Event)
	// DryRun writes nothing: each entry that would be written is
	// reported as a Planned event saying what would happen to it.
	DryRun bool

	// portable forces the os.Root writer where a system-specific one
	// exists, so that tests run both on Linux.
	portable bool
}

// EventKind classifies an Event.
type EventKind int

const (
	// Failed: an entry (or, with an empty Path, the image or a pattern)
	// could not be extracted — damage, or a refusal to write.
	Failed EventKind = iota
	// Skipped: left out on purpose (exists under Skip, needs root, left
	// out by the Filter, a type this system cannot create).
	Skipped
	// Partial: a file written in part on the Filter's word; Written
	// lists the byte ranges written.
	Partial
	// Warning: something worth knowing that is not damage (the image's
	// own warnings).
	Warning
	// Planned: under DryRun, what would be done with an entry.
	Planned
	// Unreached: an entry not created because its directory was not
	// (which was reported); not counted as a problem of its own.
	Unreached
)

// Action is what a dry run would do with an entry.
type Action string

// The actions of a dry run.
const (
	ActCreate  Action = "create"
	ActMerge   Action = "merge"   // an existing directory
	ActReplace Action = "replace" // Replace
	ActRename  Action = "rename"  // Rename: Dest names the new name
	ActSkip    Action = "skip"    // Skip
	ActRefuse  Action = "refuse"  // Refuse: it would be reported as failed
)

// Event is one thing the caller may want to tell the user.
type Event struct {
	Kind EventKind
	// Path is the entry's image path without a leading "/" ("[BOOT]/..."
	// for boot images); empty for the image as a whole.
	Path string
	// Sector is where the entry's data (or, without data, its record)
	// is in the image; -1 when the event concerns no one entry.
	Sector int64
	// Type is the entry's type in ls -l's letters ("-", "d", "l", "p",
	// "c", "b", "s"; "h" for a second hard link).
	Type string
	// Size is the file size in bytes.
	Size int64
	// Err says what went wrong (Failed) or why (Skipped, Partial, Warning).
	Err error
	// Written lists the byte ranges of a file that were written, when
	// not all of it was (Partial, and Failed after a read error); Kept
	// says the file was kept with them (Failed after a read error).
	Written []Range
	Kept    bool
	// Action and Dest (the name written, relative to DIR) describe a
	// Planned event.
	Action Action
	Dest   string
}

// Result counts what Run did.
type Result struct {
	// Planned is the number of entries selected (for Stream: files).
	Planned int
	// Created entries, by type; Links counts second names of hard links.
	// A dry run counts what it would create; Stream counts in Files the
	// files written whole, in FailedEntries those cut short.
	Files, Dirs, Symlinks, Links, Special int
	// Bytes of file data written.
	Bytes int64
	// Failed counts Failed events; FailedEntries the entries among them.
	Failed, FailedEntries int
	// Skipped counts entries left out on purpose, Existing those of them
	// left alone because the name existed (Skip), Partial the files
	// written in part.
	Skipped, Existing, Partial int
	Elapsed                    time.Duration
	// Interrupted is set when the context was cancelled: the files being
	// written were removed and directories got their final modes.
	Interrupted bool
}

// Created is the number of entries created (for a dry run: that would
// be; for Stream: the files written whole).
func (r *Result) Created() int { return r.Files + r.Dirs + r.Symlinks + r.Links + r.Special }

// ErrDestination wraps failures to create or open DIR itself.
var ErrDestination = errors.New("extract: cannot use the destination directory")
