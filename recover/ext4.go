package recover

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/isofsd/isofsd/recover/ext4j"
	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Rebuilding a carved image that proved fragmented, through ext4.
//
// Undelete asks the journal's descriptors for deleted files first. When
// carving still finds an image that proves wrong — the descriptors were
// lost, or the image was never listed — the inode records that survive
// anywhere in the journal (or the file system) may still say where its
// pieces were: ext4j.CopiesStartingAt finds those whose file starts where
// the image does, and each layout is tried and verified.

// fileExtent is one run of a rebuilt file (Physical: a byte offset on the
// source).
type fileExtent = fsmeta.Extent

// ext4Sources lists the ext4 file systems of a source.
type ext4Sources struct {
	fss []*ext4Located
}

// ext4Located is an ext4 file system and where it starts on the source.
type ext4Located struct {
	Start, Size int64
	fs          *ext4j.FS
}

// findExt4 looks for ext4 at the start of the source and in each partition
// of its MBR/GPT.
func findExt4(src io.ReaderAt, size int64) *ext4Sources {
	out := &ext4Sources{}
	eachVolume(src, size, func(start, n int64) bool {
		fs, err := ext4j.Open(io.NewSectionReader(src, start, n), n)
		if err != nil {
			return false
		}
		out.fss = append(out.fss, &ext4Located{Start: start, Size: min(n, fs.Blocks*fs.BlockSize), fs: fs})
		return true
	})
	return out
}

// layout is one possible placement of a deleted file on the source:
// its size and its runs (Physical is a byte offset in the source).
type layout struct {
	size    int64
	extents []fileExtent
}

// assemble writes the file described by c: extents from the source,
// zeros for holes and unwritten extents.
func assemble(ctx context.Context, src io.ReaderAt, srcSize int64, c layout, w io.Writer, progress func(int64)) error {
	f := &fsmeta.File{ID: "rebuilt file", Size: c.size, Extents: c.extents}
	for i, e := range c.extents {
		if i > 0 && e.Logical < c.extents[i-1].Logical+c.extents[i-1].Length {
			return fmt.Errorf("overlapping extents at byte %d", e.Logical)
		}
	}
	return copyRange(ctx, newExtentReader(src, srcSize, f), 0, c.size, w, progress)
}

// rank orders carve statuses from worst to best.
func rank(status string) int {
	switch status {
	case StatusExact:
		return 3
	case StatusLikely:
		return 2
	}
	return 0
}

// tryExt4 attempts the inode-copy reassembly for r.
func tryExt4(ctx context.Context, src io.ReaderAt, size int64, x *ext4Sources, r *Recovered, o RecoverOptions) bool {
	var loc *ext4Located
	for _, f := range x.fss {
		if r.Offset >= f.Start && r.Offset < f.Start+f.Size {
			loc = f
		}
	}
	if loc == nil {
		return false
	}
	bs := loc.fs.BlockSize
	if (r.Offset-loc.Start)%bs != 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("the image does not start on an ext4 block boundary (block size %d): not a file of that file system", bs))
		return false
	}
	files, err := loc.fs.CopiesStartingAt(ctx, r.Offset-loc.Start)
	if err != nil {
		r.Attempts = append(r.Attempts, fmt.Sprintf("scanning the ext4 file system: %v", err))
		return false
	}
	if len(files) == 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("ext4 at byte %d: no surviving copy of an inode whose data starts at block %d (the journal has moved on or the inode was never journaled); the image's missing pieces cannot be located", loc.Start, (r.Offset-loc.Start)/bs))
		return false
	}
	var cands []layout
	for _, f := range files {
		for i := range f.Extents {
			if !f.Extents[i].Zero {
				f.Extents[i].Physical += loc.Start
			}
		}
		cands = append(cands, layout{f.Size, f.Extents})
	}
	what := "ext4 inode copy"
	if loc.fs.Journal != nil {
		what = "ext4 inode copy from the journal"
	}
	return tryLayouts(ctx, src, size, r, o, what, cands)
}

// tryLayouts writes each candidate layout of the deleted file, verifies
// it, and keeps the first that verifies better than what r has now.
func tryLayouts(ctx context.Context, src io.ReaderAt, size int64, r *Recovered, o RecoverOptions, what string, cands []layout) bool {
	for k, c := range cands {
		tmp := fmt.Sprintf("%s.try-%d", r.Path, k)
		err := writeImage(ctx, tmp, c.size, func(w io.Writer, p func(int64)) error {
			return assemble(ctx, src, size, c, w, p)
		}, o.Progress)
		if err != nil {
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs): %v", what, k+1, len(c.extents), err))
			continue
		}
		rep, err := verifyPathWith(ctx, tmp, VerifyOptions{AnyName: true, External: o.External}, o.Progress)
		if err != nil {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs): %v", what, k+1, len(c.extents), err))
			continue
		}
		f2 := *r.Found
		f2.Size, f2.Available = max(c.size, r.Size), c.size
		st, note := Judge(&f2, rep)
		if rank(st) <= rank(r.Status) {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs, %d bytes): %s, no better", what, k+1, len(c.extents), c.size, st))
			continue
		}
		if err := os.Rename(tmp, r.Path); err != nil {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d: %v", what, k+1, err))
			continue
		}
		r.Attempts = append(r.Attempts, fmt.Sprintf("contiguous copy was %s (wrong bytes: %v)", r.Status, r.Wrong))
		r.Method = fmt.Sprintf("%s (%d runs)", what, len(c.extents))
		r.Status, r.Note, r.Verify = st, note, rep
		r.Wrong = wrongRanges(rep)
		r.Found = &f2
		return true
	}
	return false
}
