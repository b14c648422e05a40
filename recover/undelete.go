package recover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/isofsd/isofsd/internal/safetext"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/recover/exfat"
	"github.com/isofsd/isofsd/recover/ext4j"
	"github.com/isofsd/isofsd/recover/fsmeta"
	"github.com/isofsd/isofsd/recover/ntfs"
)

// File-system-aware undelete.
//
// A deleted file's own metadata says where its pieces are, which
// signature carving can only guess (it assumes an image continues from
// its first sector). So Undelete first finds the file systems on the
// source — the whole source, or each MBR/GPT partition — and asks each
// for its deleted files and their real extents; only then does carving
// look for images no file system remembers.

// FileSystem is a file system found on the source.
type FileSystem struct {
	Kind   string `json:"kind"`   // "ntfs", "exfat", "ext4", "fat"
	Offset int64  `json:"offset"` // byte offset on the source
	Size   int64  `json:"size"`
	// Deleted counts the deleted files its metadata lists; Images how
	// many of them are ISO 9660/UDF images.
	Deleted int      `json:"deleted"`
	Images  int      `json:"images"`
	Notes   []string `json:"notes,omitempty"`
	Error   string   `json:"error,omitempty"`

	list func(context.Context, func(done, total int64)) ([]*fsmeta.File, error)
	// allFree checks a file's clusters against the allocation map
	// (extents relative to the file system); asked only for images.
	allFree func(*fsmeta.File) bool
	// claims adds to a file (extents relative to the file system) the
	// metadata found on its clusters that its reader could not weigh
	// while listing; asked only for images. Nil when the reader weighs
	// everything while listing.
	claims func(*fsmeta.File)
	// metadata says what file-system metadata a block of a recovered
	// file (unit bytes, from the file's start) holds, "" when none.
	metadata func([]byte) string
	unit     int64
}

// clustersFree fills f.Free from the file system's allocation map, and
// adds the claims of metadata on f's clusters; f's extents are offsets
// on the source.
func (fs *FileSystem) clustersFree(f *fsmeta.File) {
	if fs.allFree == nil && fs.claims == nil {
		return
	}
	g := *f
	g.Extents = make([]fsmeta.Extent, len(f.Extents))
	for i, e := range f.Extents {
		if !e.Zero {
			e.Physical -= fs.Offset
		}
		g.Extents[i] = e
	}
	if fs.allFree != nil {
		f.Free = fs.allFree(&g)
	}
	if fs.claims != nil {
		g.Claims = nil
		fs.claims(&g)
		for _, c := range g.Claims {
			if c.Length > 0 {
				c.Physical += fs.Offset
			}
			f.AddClaim(c)
		}
	}
}

// FindFileSystems looks for NTFS, exFAT, ext2/3/4 and FAT at the start of
// the source and at the start of each partition its MBR/GPT lists.
func FindFileSystems(src io.ReaderAt, size int64) []*FileSystem {
	var out []*FileSystem
	try := func(off, n int64) bool {
		sec := io.NewSectionReader(src, off, n)
		for _, o := range fsOpeners {
			fs, err := o.open(sec, n)
			if errors.Is(err, fsmeta.ErrNotFound) {
				continue
			}
			if err != nil {
				fs = &FileSystem{Error: err.Error()}
			}
			fs.Kind, fs.Offset, fs.Size = o.kind, off, n
			out = append(out, fs)
			return true
		}
		if v := openFAT(src, off, n); v != nil {
			fs := &FileSystem{Kind: "fat", Offset: off, Size: v.size, allFree: v.allFree}
			fs.list = func(ctx context.Context, p func(int64, int64)) ([]*fsmeta.File, error) {
				files, notes, err := v.deleted(ctx, p)
				fs.Notes = notes
				return files, err
			}
			out = append(out, fs)
			return true
		}
		return false
	}
	eachVolume(src, size, try)
	return out
}

// fsOpeners open the file systems whose readers live in their own
// packages, in the order they are tried (FAT, whose boot sector is the
// loosest, comes after them).
var fsOpeners = []struct {
	kind string
	open func(io.ReaderAt, int64) (*FileSystem, error)
}{
	{"ntfs", func(r io.ReaderAt, n int64) (*FileSystem, error) {
		v, err := ntfs.Open(r, n)
		if err != nil {
			return nil, err
		}
		return &FileSystem{Notes: nonEmpty(v.BitmapNote), allFree: v.AllFree, claims: v.Claims, metadata: ntfs.Metadata, unit: v.ClusterSize,
			list: func(ctx context.Context, p func(int64, int64)) ([]*fsmeta.File, error) { return v.Deleted(ctx, p) }}, nil
	}},
	{"exfat", func(r io.ReaderAt, n int64) (*FileSystem, error) {
		v, err := exfat.Open(r, n)
		if err != nil {
			return nil, err
		}
		return &FileSystem{Notes: nonEmpty(v.BitmapNote), allFree: v.AllFree, claims: v.Claims, metadata: exfat.Metadata, unit: v.ClusterSize,
			list: func(ctx context.Context, p func(int64, int64)) ([]*fsmeta.File, error) { return v.Deleted(ctx, p) }}, nil
	}},
	{"ext4", func(r io.ReaderAt, n int64) (*FileSystem, error) {
		v, err := ext4j.Open(r, n)
		if err != nil {
			return nil, err
		}
		return &FileSystem{Notes: nonEmpty(v.JournalNote), allFree: v.AllFree, metadata: v.Metadata, unit: v.BlockSize,
			list: func(ctx context.Context, p func(int64, int64)) ([]*fsmeta.File, error) { return v.Deleted(ctx, p) }}, nil
	}},
}

// nonEmpty is s as a list of notes: none when s is empty.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// eachVolume calls try on the whole source and, unless try takes it, on
// each partition its MBR/GPT lists (offset and size on the source).
func eachVolume(src io.ReaderAt, size int64, try func(off, n int64) bool) {
	if try(0, size) {
		return
	}
	if sa, err := isofmt.ReadSystemArea(src, size); err == nil {
		for _, p := range sa.Partitions {
			if p.Start > 0 && p.Start < size {
				try(p.Start, min(p.Size, size-p.Start))
			}
		}
	}
}

// UndeleteOptions tune Undelete.
type UndeleteOptions struct {
	// OutDir receives the files; the caller has checked it is not on the source.
	OutDir string
	// External is a checksum list given by the user (--sums), matched by
	// the files' original names.
	External []SumEntry
	// Scan tunes the signature scan; NoCarve skips it, NoFS skips the
	// file systems.
	Scan    CarveOptions
	NoCarve bool
	NoFS    bool
	// ScanOnly reports what would be recovered and writes nothing.
	ScanOnly bool
	// Progress reports long steps: stage names the step.
	Progress func(stage string, done, total int64)
}

// UndeleteReport is what Undelete found and recovered.
type UndeleteReport struct {
	FileSystems []*FileSystem `json:"file_systems"`
	Images      []*Recovered  `json:"images"`
}

// Undelete recovers deleted ISO 9660/UDF images: first through the
// metadata of the file systems on src (named after their original names,
// gathered from their real extents), then by signature carving for images
// no file system lists. Every image gets a verdict: exact only when
// proven, likely when consistent but unverified, damaged (with the files
// affected) or truncated.
func Undelete(ctx context.Context, src io.ReaderAt, size int64, o UndeleteOptions) (*UndeleteReport, error) {
	rep := &UndeleteReport{}
	progress := func(stage string) func(int64, int64) {
		if o.Progress == nil {
			return nil
		}
		return func(d, t int64) { o.Progress(stage, d, t) }
	}
	used := map[string]bool{}
	claimed := map[int64]*Recovered{} // image start on the source → FS result
	if !o.NoFS {
		rep.FileSystems = FindFileSystems(src, size)
		for _, fs := range rep.FileSystems {
			if fs.list == nil {
				continue
			}
			files, err := fs.list(ctx, progress(fmt.Sprintf("%s at byte %d: reading metadata", fs.Kind, fs.Offset)))
			if err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				fs.Error = err.Error()
			}
			fs.Deleted = len(files)
			for _, f := range files {
				for i := range f.Extents {
					if !f.Extents[i].Zero {
						f.Extents[i].Physical += fs.Offset
					}
				}
			}
			var images []*fsmeta.File
			for _, f := range files {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				if looksLikeImage(src, size, f) {
					fs.clustersFree(f)
					images = append(images, f)
				}
			}
			isImage := map[*fsmeta.File]bool{}
			for _, f := range images {
				isImage[f] = true
			}
			overwritten := 0
			for _, f := range images {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				if g := overwrittenStart(f, images); g != nil {
					// Its first sectors now hold a later file's image: the
					// descriptor seen through it is that file's.
					overwritten++
					continue
				}
				fs.Images++
				r := undeleteFile(ctx, src, size, fs, f, files, isImage, used, o)
				rep.Images = append(rep.Images, r)
				if r.Found != nil && r.Offset >= 0 {
					claimed[r.Offset] = r
				}
			}
			if overwritten > 0 {
				fs.Notes = append(fs.Notes, fmt.Sprintf("%d deleted files whose first sectors a later deleted image overwrote were skipped (the image is reported under its own name)", overwritten))
			}
		}
	}
	if o.NoCarve {
		return rep, ctx.Err()
	}
	found, err := Scan(ctx, src, size, o.Scan)
	if err != nil {
		return rep, err
	}
	// Images a file system already gave back are not carved again; an
	// image that starts inside another's contiguous span is kept and
	// reported (the outer one is then fragmented, or holds it as a file).
	var rest []*Found
	for _, f := range found {
		if r := claimed[f.Offset]; r != nil {
			r.Attempts = append(r.Attempts, fmt.Sprintf("signature scan found its start at byte %d too; the file system's extents were used", f.Offset))
			continue
		}
		// The descriptor that made the find (32 KiB in) may lie inside a
		// file a file system gave back: then this is that image seen from
		// a wrong start (its first sectors are elsewhere), a second
		// descriptor set of it, or an image stored in it.
		if r, at := insideRecovered(rep.Images, f.Offset+systemAreaBytes); r != nil {
			what := fmt.Sprintf("signature scan found %s volume descriptors at byte %d, byte %d of this file", f.Kind, f.Offset+systemAreaBytes, at)
			if at == systemAreaBytes {
				what += " (this image's own, seen from a wrong start: its first sectors are elsewhere)"
			} else {
				what += " (an image stored inside this one, or a second descriptor set)"
			}
			r.Attempts = append(r.Attempts, what)
			continue
		}
		rest = append(rest, f)
	}
	if o.ScanOnly {
		for _, f := range rest {
			st := "found"
			if f.Truncated() {
				st = StatusTruncated
			}
			rep.Images = append(rep.Images, &Recovered{Found: f, Status: st, Method: "signature"})
		}
		return rep, nil
	}
	carved, err := Recover(ctx, src, size, rest, RecoverOptions{OutDir: o.OutDir, Progress: o.Progress, External: o.External})
	rep.Images = append(rep.Images, carved...)
	return rep, err
}

// insideRecovered finds the file-system-recovered image whose recorded
// data extents hold source byte off, and the file offset there.
func insideRecovered(rs []*Recovered, off int64) (*Recovered, int64) {
	for _, r := range rs {
		// Only extents the file system recorded: an assumed layout (a
		// zeroed FAT chain) may run over another image's sectors.
		if r.FSFile == nil || !r.FSFile.Complete || r.Path == "" || r.Status == StatusDamaged {
			continue
		}
		for _, e := range r.FSFile.Extents {
			if !e.Zero && off >= e.Physical && off < e.Physical+e.Length {
				return r, e.Logical + off - e.Physical
			}
		}
	}
	return nil, 0
}

// overwrittenStart returns a deleted image that owns the sectors of f's
// first 34 KiB (system area and first descriptor) instead of f, nil if
// none: one written later (by more than the step of the file system's
// clock) over them, or — when the times cannot tell
// (file systems keep seconds) — a larger one whose descriptor sits on the
// very same sector at the same place in the file (a small deleted file
// whose clusters an image reused sees that image's descriptor).
func overwrittenStart(f *fsmeta.File, images []*fsmeta.File) *fsmeta.File {
	head := &fsmeta.File{Size: min(f.Size, systemAreaBytes+isofmt.SectorSize)}
	for _, e := range f.Extents {
		if e.Logical < head.Size {
			e.Length = min(e.Length, head.Size-e.Logical)
			head.Extents = append(head.Extents, e)
		}
	}
	pvd, ok := physicalAt(f, systemAreaBytes)
	for _, g := range images {
		if g == f {
			continue
		}
		if g.Modified.After(f.Modified.Add(timeStep(f.FS))) && fsmeta.Overlaps(head, g) > 0 {
			return g
		}
		if q, ok2 := physicalAt(g, systemAreaBytes); ok && ok2 && q == pvd && g.Size > f.Size && !g.Modified.Before(f.Modified) {
			return g
		}
	}
	return nil
}

// imageStart is where on the source the image would start if its first
// sectors lay before its first descriptor as in a contiguous copy — the
// offset a signature scan reports — or the first data extent's start
// when sector 16 is not mapped; -1 when nothing is.
func imageStart(f *fsmeta.File) int64 {
	if p, ok := physicalAt(f, systemAreaBytes); ok && p >= systemAreaBytes {
		return p - systemAreaBytes
	}
	for _, e := range f.Extents {
		if !e.Zero {
			return e.Physical - e.Logical
		}
	}
	return -1
}

// physicalAt is the source offset of file byte off, if it is mapped.
func physicalAt(f *fsmeta.File, off int64) (int64, bool) {
	for _, e := range f.Extents {
		if !e.Zero && off >= e.Logical && off < e.Logical+e.Length {
			return e.Physical + off - e.Logical, true
		}
	}
	return 0, false
}

// looksLikeImage reads sector 16 of a deleted file through its extents:
// an ISO 9660 primary descriptor or a UDF recognition sequence there.
func looksLikeImage(src io.ReaderAt, size int64, f *fsmeta.File) bool {
	if f.Size < systemAreaBytes+isofmt.SectorSize {
		return false
	}
	b := make([]byte, isofmt.SectorSize)
	if _, err := newExtentReader(src, size, f).ReadAt(b, systemAreaBytes); err != nil {
		return false
	}
	return isofmt.CheckPrimaryDescriptor(b) == nil || string(b[1:6]) == "BEA01"
}

// extentReader reads a file through its extents.
type extentReader struct {
	src  io.ReaderAt
	size int64
	f    *fsmeta.File
}

func newExtentReader(src io.ReaderAt, size int64, f *fsmeta.File) *extentReader {
	return &extentReader{src, size, f}
}

// ReadAt reads file bytes; holes and unmapped parts read as zeros.
func (r *extentReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.f.Size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.f.Size-off)
	clear(p[:n])
	ex := r.f.Extents
	i := sort.Search(len(ex), func(i int) bool { return ex[i].Logical+ex[i].Length > off })
	for ; i < len(ex) && ex[i].Logical < off+n; i++ {
		e := ex[i]
		lo, hi := max(off, e.Logical), min(off+n, e.Logical+e.Length)
		if e.Zero || hi <= lo {
			continue
		}
		phys := e.Physical + lo - e.Logical
		if phys < 0 || phys+hi-lo > r.size {
			return 0, fmt.Errorf("recover: %s: extent at byte %d runs past the source", r.f.ID, phys)
		}
		if _, err := r.src.ReadAt(p[lo-off:hi-off], phys); err != nil {
			return 0, fmt.Errorf("recover: reading source at byte %d: %w", phys, err)
		}
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// undeleteFile writes one deleted image, verifies it and judges it.
func undeleteFile(ctx context.Context, src io.ReaderAt, size int64, fs *FileSystem, f *fsmeta.File, all []*fsmeta.File, isImage map[*fsmeta.File]bool, used map[string]bool, o UndeleteOptions) *Recovered {
	r := &Recovered{Name: f.Name, FSFile: f, Method: fmt.Sprintf("%s %s (%d extents)", f.FS, f.ID, len(f.Extents))}
	start := imageStart(f)
	er := newExtentReader(src, size, f)
	found, err := identify(er, f.Size, 0)
	if err != nil {
		r.Found = &Found{Offset: start, Size: f.Size, Available: f.Size, NestedIn: -1}
		r.Status, r.Error = StatusDamaged, fmt.Sprintf("the rebuilt file is no readable image: %v", err)
		return r
	}
	found.Offset = start
	r.Found = found
	// Another deleted file written later over the same clusters means this
	// one's bytes there may be that file's.
	var doubts []string
	var assumedBytes, newerBytes int64
	var assumedWho, newerWho []string
	// conflicts are this file's byte ranges that an assumed layout gives
	// to it and to another deleted image written at the same time (within
	// the step of the file system's clock) or later: at least one of the two is wrong there, and nothing says
	// which. (Other deleted files are not weighed so: their times are not
	// reliable enough — mtools copies the source's — and an image written
	// over a deleted file's clusters is the usual case.)
	var conflicts []Range
	var conflictWho []string
	for _, g := range all {
		if g == f {
			continue
		}
		if n := fsmeta.Overlaps(f, g); n > 0 {
			who := g.Name
			if who == "" {
				who = g.ID
			}
			switch {
			case (!f.Complete || !g.Complete) && isImage[g] && !g.Modified.Before(f.Modified.Add(-timeStep(f.FS))):
				for _, e := range fsmeta.SharedRanges(f, g) {
					conflicts = append(conflicts, Range{e.Logical, e.Length})
				}
				conflictWho = append(conflictWho, who)
			case !f.Complete || !g.Complete:
				// Two layouts, one of them assumed, claim the same
				// clusters; the other file is older, so this one was
				// written over it and its assumed layout is what is wrong.
				assumedBytes += n
				assumedWho = append(assumedWho, who)
			case g.Modified.After(f.Modified) || g.Modified.IsZero() || f.Modified.IsZero():
				newerBytes += n
				newerWho = append(newerWho, who)
			}
		}
	}
	names := func(w []string) string {
		if len(w) > 3 {
			return fmt.Sprintf("%q and %d more", w[:3], len(w)-3)
		}
		return fmt.Sprintf("%q", w)
	}
	if assumedBytes > 0 {
		doubts = append(doubts, fmt.Sprintf("%d bytes of its clusters are also claimed by %d other deleted files %s (one of the layouts is assumed)", assumedBytes, len(assumedWho), names(assumedWho)))
	}
	if newerBytes > 0 {
		doubts = append(doubts, fmt.Sprintf("%d bytes of its clusters are also claimed by %d deleted files written later %s, which may have overwritten them", newerBytes, len(newerWho), names(newerWho)))
	}
	// The file system's own records of metadata it wrote on these
	// clusters: after the file's last state, the bytes there are certainly
	// not the file's; at an unknown time, they are in doubt.
	certain, doubtful := f.ClaimedRanges()
	var reasons []string
	if len(conflicts) > 0 {
		reasons = append(reasons, fmt.Sprintf("its clusters are also claimed by deleted %s, written at the same time or later (assumed layout)", names(conflictWho)))
	}
	if len(certain) > 0 {
		for _, e := range certain {
			conflicts = append(conflicts, Range{e.Logical, e.Length})
		}
		reasons = append(reasons, fmt.Sprintf("the file system wrote %s there after the file's last recorded state", claimNames(f.Claims, true)))
	}
	if len(f.Claims) > 0 && len(certain) == 0 || len(doubtful) > 0 {
		doubts = append(doubts, fmt.Sprintf("%d bytes of its clusters held %s at a time the file system's records cannot order against the file", extentBytes(doubtful), claimNames(f.Claims, false)))
	}
	if o.ScanOnly {
		r.Status = "found"
		r.Note = strings.Join(append(append([]string(nil), f.Notes...), doubts...), "; ")
		return r
	}
	r.Path = filepath.Join(o.OutDir, outputName(o.OutDir, f, used))
	err = writeImage(ctx, r.Path, f.Size, func(w io.Writer, p func(int64)) error {
		return copyRange(ctx, er, 0, f.Size, w, p)
	}, o.Progress)
	if err != nil {
		r.Status, r.Error, r.Path = StatusDamaged, err.Error(), ""
		return r
	}
	vo := VerifyOptions{ImageName: f.Name, External: o.External}
	r.Verify, err = verifyPathWith(ctx, r.Path, vo, o.Progress)
	if err != nil {
		r.Status, r.Error = StatusDamaged, err.Error()
		return r
	}
	r.Status, r.Note = Judge(found, r.Verify)
	r.Wrong = wrongRanges(r.Verify)
	if r.Status == StatusLikely && len(conflicts) > 0 {
		// Unproven, and another deleted file written with or after it
		// claims some of the same clusters, or the file system wrote its
		// metadata there: call it damaged there and name the files inside
		// the image those bytes hold.
		conflicts = normalise(conflicts)
		reason := strings.Join(reasons, "; ")
		r.Status = StatusDamaged
		r.Note = strings.Join(append([]string{fmt.Sprintf("%d bytes in %d ranges were written with other data after it: %s", rangeBytes(conflicts), len(conflicts), reason)}, f.Notes...), "; ")
		r.Wrong = normalise(append(r.Wrong, conflicts...))
		if img, err := isofmt.OpenFile(r.Path, nil); err == nil {
			if d, err := Damage(img, conflicts, reason); err == nil {
				for i := range d.Damaged {
					d.Damaged[i].Suspect = true
				}
				r.Verify.Files = d
			}
			img.Close()
		}
		return r
	}
	if r.Status != StatusLikely {
		return r
	}
	// No checksum covers every byte: the file system's word may prove it.
	var why []string
	if !f.Complete {
		why = append(why, "the file system's extents are incomplete or assumed")
	}
	if !f.Free {
		why = append(why, "some of its clusters are in use again (or the allocation map is unreadable)")
	}
	why = append(why, doubts...)
	why = append(why, f.Notes...)
	if f.Complete && f.Free && len(doubts) == 0 {
		// The file system's word is all there is: check the bytes read
		// back for its metadata, which no record may name any more.
		if what, at, err := findMetadata(ctx, r.Path, fs); err != nil || what != "" {
			if err != nil {
				why = append(why, fmt.Sprintf("reading it back: %v", err))
			} else {
				why = append(why, fmt.Sprintf("byte %d holds what looks like %s, written there after the file perhaps", at, what))
			}
			r.Note = "structure valid, data unverified: " + strings.Join(why, "; ") + "; " + verifyHint
			return r
		}
		r.Status = StatusExact
		r.Note = fmt.Sprintf("complete %s extents, every cluster free since deletion and claimed by no deleted file or metadata written later", f.FS)
		if r.Verify.Verdict == VerdictOK {
			r.Note += "; checksums in the image matched what they cover"
		}
		return r
	}
	r.Note = "structure valid, data unverified: " + strings.Join(why, "; ") + "; " + verifyHint
	return r
}

// claimNames says what the file system wrote on a file's clusters (the
// claims after its last state when after is set, the others otherwise).
func claimNames(cs []fsmeta.Claim, after bool) string {
	var w []string
	n := 0
	for _, c := range cs {
		if c.After != after {
			continue
		}
		if n++; len(w) < 3 {
			w = append(w, c.What)
		}
	}
	if n > len(w) {
		return fmt.Sprintf("%s and %d more", strings.Join(w, ", "), n-len(w))
	}
	return strings.Join(w, ", ")
}

func extentBytes(es []fsmeta.Extent) int64 {
	var n int64
	for _, e := range es {
		n += e.Length
	}
	return n
}

// findMetadata reads a recovered file in the file system's blocks and
// returns what metadata the first one that holds some holds, and where.
func findMetadata(ctx context.Context, path string, fs *FileSystem) (string, int64, error) {
	if fs == nil || fs.metadata == nil || fs.unit <= 0 || fs.unit > 1<<20 {
		return "", 0, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	buf := make([]byte, max(fs.unit, 4<<20)/fs.unit*fs.unit)
	for off := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		n, err := io.ReadFull(in, buf)
		for i := 0; i+int(fs.unit) <= n; i += int(fs.unit) {
			if what := fs.metadata(buf[i : i+int(fs.unit)]); what != "" {
				return what, off + int64(i), nil
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return "", 0, nil
		}
		if err != nil {
			return "", 0, err
		}
	}
}

// timeStep is the resolution of the modification times a file system
// keeps, as its reader reports them: two files written less than a step
// apart may get times a step apart, in either order (exFAT and FAT keep 2
// seconds — TestUndeleteExFAT's two interleaved images came out "likely"
// instead of "damaged" whenever their last writes fell on two sides of an
// even second).
func timeStep(fs string) time.Duration {
	switch fs {
	case "fat", "exfat":
		return 2 * time.Second
	case "ext4":
		return time.Second
	}
	return 0
}

func rangeBytes(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Length
	}
	return n
}

// maxOutputName caps a recovered file's name in bytes, leaving room
// under NAME_MAX (255) for a "-N" suffix.
const maxOutputName = 200

// verifyHint names the checks that would prove an unverified image.
const verifyHint = "would be verified by an implanted MD5 (implantisomd5), an md5sum.txt/SHA256SUMS inside the image, or --sums FILE with the image's published checksum"

// outputName is the file's original name made one harmless path element
// (safetext.Name, the rule automatic mountpoints follow too: no
// directories, no control or format characters such as bidi overrides),
// made unique among the names used in this run and the files already in
// dir (nothing is overwritten).
func outputName(dir string, f *fsmeta.File, used map[string]bool) string {
	base := filepath.Base("/" + f.Name)
	if base != "/" && base != "." && base != ".." {
		base = safetext.Name(base, maxOutputName)
	}
	if base == "" || base == "/" || base == "." || base == ".." {
		base = strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(f.FS + "-" + f.ID)
		base = safetext.Name(base, 60) + ".iso"
	}
	name := base
	ext := filepath.Ext(base)
	taken := func(n string) bool {
		_, err := os.Lstat(filepath.Join(dir, n))
		return used[n] || err == nil
	}
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(base, ext), i, ext)
	}
	used[name] = true
	return name
}

// verifyPathWith opens a written image and verifies it with options.
func verifyPathWith(ctx context.Context, path string, vo VerifyOptions, progress func(string, int64, int64)) (*VerifyReport, error) {
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if progress != nil {
		stage := "verify " + filepath.Base(path)
		vo.Progress = func(done, total int64) { progress(stage, done, total) }
	}
	return Verify(ctx, img, vo)
}
