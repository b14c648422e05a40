package recover

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Recovering a fragmented deleted file on FAT.
//
// Package fatfs reads the volume: boot sector, FAT, directories with
// their deleted entries (name, size, first cluster) and deleted
// directories. What is here is the recovery rule. Deleting a file on FAT
// marks its directory entry and frees its cluster chain, so the entry
// keeps the first cluster and the size but the chain is gone; what
// survives is which clusters are still in use by other files. A file
// written when the disk was fragmented filled free clusters in order,
// skipping used ones, so the classic undelete rule — take the next free
// clusters from the first one — rebuilds it as long as the files it was
// written around still exist. Every such file says it was assumed, and is
// verified like any carved image.

// FAT recovery limits.
const (
	// fatMaxExtents caps the runs of one rebuilt file.
	fatMaxExtents = 1 << 16
	// fatMaxWork caps the free-run steps spent on one listing (or one
	// carved image); fatMaxFreeRuns caps the free-run index (8 bytes a run).
	fatMaxWork     = 1 << 26
	fatMaxFreeRuns = 1 << 24
)

// fatVolume is a FAT file system on the source.
type fatVolume struct {
	fs    *fatfs.FS
	start int64 // byte offset on the source
	size  int64 // its bytes on the source
	// last is the last cluster wholly on the source: a truncated volume,
	// or a boot sector that lies, claims clusters past it, which are never
	// taken.
	last  uint32
	alloc *fatfs.Bitmap // loaded on first use
	free  []fatfs.Run
	// found is the deleted files' entries, walked once for carving.
	found []fatDeleted
}

// fatDeleted is a deleted file's directory entry and its path.
type fatDeleted struct {
	fatfs.Entry
	path string
}

// openFAT opens the FAT volume at byte start of src (n bytes there), nil
// when there is none. A FAT boot sector carries no magic beyond 55 AA and
// a jump instruction, so one that fatfs refuses — impossible geometry, a
// FAT that does not fit — is taken for no FAT at all rather than for a
// broken one, and the search goes on.
func openFAT(src io.ReaderAt, start, n int64) *fatVolume {
	fs, err := fatfs.Open(io.NewSectionReader(src, start, n), n)
	if err != nil {
		return nil
	}
	v := &fatVolume{fs: fs, start: start, size: min(fs.Size(), n)}
	readable := max((v.size-fs.DataOffset)/fs.ClusterSize, 0)
	v.last = uint32(min(int64(fs.Clusters), readable)) + 1
	return v
}

// findFAT finds the FAT volumes on the source.
func findFAT(src io.ReaderAt, size int64) []*fatVolume {
	var out []*fatVolume
	eachVolume(src, size, func(off, n int64) bool {
		if v := openFAT(src, off, n); v != nil {
			out = append(out, v)
			return true
		}
		return false
	})
	return out
}

// loadAlloc reads the FAT into an allocation bitmap once.
func (v *fatVolume) loadAlloc() error {
	if v.alloc != nil {
		return nil
	}
	bm, err := v.fs.Allocation()
	if err != nil {
		return fmt.Errorf("FAT of the volume at byte %d: %w", v.start, err)
	}
	v.alloc = bm
	return nil
}

// isFree reports whether cluster c is free and on the source.
func (v *fatVolume) isFree(c uint32) bool {
	return c <= v.last && !v.alloc.Allocated(c)
}

// freeIndex lists the free runs on the source in order, built once.
func (v *fatVolume) freeIndex() []fatfs.Run {
	if v.free != nil {
		return v.free
	}
	// A bitmap fragmented beyond the cap is no real one: rebuilds stop at
	// the runs listed.
	runs, _ := v.alloc.FreeRuns(fatMaxFreeRuns)
	v.free = []fatfs.Run{}
	for _, r := range runs {
		if r.First > v.last {
			break
		}
		r.Count = min(r.Count, v.last-r.First+1)
		v.free = append(v.free, r)
	}
	return v.free
}

// nextFree is the first free cluster after c, for continuing a deleted
// directory: directories grow one cluster at a time, each taken from the
// free ones after the last.
func (v *fatVolume) nextFree(c uint32) (uint32, bool) {
	free := v.freeIndex()
	i := sort.Search(len(free), func(i int) bool { return free[i].First+free[i].Count > c+1 })
	if i == len(free) {
		return 0, false
	}
	return max(free[i].First, c+1), true
}

// freeRunsFrom lists the free clusters from first on, wrapping around
// like an allocator, until want bytes are covered: the classic undelete
// rule for a chain that deletion zeroed. Extents are relative to the
// volume. It walks the free-run index, so a file costs one step per run
// it takes; every step counts against *work.
func (v *fatVolume) freeRunsFrom(first uint32, want int64, work *int64) ([]fileExtent, int64) {
	var runs []fileExtent
	var got int64
	free := v.freeIndex()
	cs := v.fs.ClusterSize
	take := func(c, n uint32) bool {
		if got >= want || len(runs) >= fatMaxExtents || *work >= fatMaxWork {
			return false
		}
		*work++
		ln := min(int64(n)*cs, want-got)
		runs = append(runs, fileExtent{Logical: got, Physical: v.fs.ClusterOffset(c), Length: ln})
		got += ln
		return true
	}
	// From first to the end of the volume, then from cluster 2 back up to
	// first (allocators wrap around).
	i := sort.Search(len(free), func(i int) bool { return free[i].First+free[i].Count > first })
	for k := i; k < len(free); k++ {
		c := max(free[k].First, first)
		if !take(c, free[k].First+free[k].Count-c) {
			return runs, got
		}
	}
	for k := 0; k < len(free) && free[k].First < first; k++ {
		if !take(free[k].First, min(free[k].First+free[k].Count, first)-free[k].First) {
			break
		}
	}
	return runs, got
}

// allFree reports whether every cluster of file's data (extents relative
// to the volume) is free in the FAT.
func (v *fatVolume) allFree(file *fsmeta.File) bool {
	if v.loadAlloc() != nil {
		return false
	}
	g := v.fs.Geometry
	return fsmeta.AllFree(file, g.DataOffset, g.ClusterSize, func(i int64) bool { return i+2 <= math.MaxUint32 && v.isFree(uint32(i+2)) })
}

// walk lists the volume's deleted files: every directory reachable from
// the root, and the deleted directories, continued over the free
// clusters after their first as long as those hold directory entries.
// Files and directories that lost the first character of their short
// name show it as '_' (valid in a file name on every system). A live
// directory that cannot be read is an error (the listing is incomplete);
// deleted directories whose clusters were taken since are counted in a
// note.
func (v *fatVolume) walk(ctx context.Context, progress func(int64, int64)) ([]fatDeleted, []string, error) {
	if err := v.loadAlloc(); err != nil {
		return nil, nil, err
	}
	var out []fatDeleted
	var broken, lost []string
	paths := map[int64]string{} // a directory's entry offset → its path
	dirs := int64(0)
	err := v.fs.Walk(fatfs.WalkOptions{Deleted: true, NextDeleted: v.nextFree}, func(d *fatfs.Directory) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		dirs++
		if progress != nil {
			progress(dirs, dirs+int64(d.Queued))
		}
		path := ""
		if d.Entry != nil {
			path = paths[d.Entry.Offset]
		}
		if d.Err != nil {
			if d.Entry != nil && d.Entry.Deleted {
				lost = append(lost, d.Err.Error())
			} else {
				broken = append(broken, d.Err.Error())
			}
			return nil
		}
		for _, e := range d.Entries {
			p := path + "/" + fatName(&e)
			if e.IsDir() {
				paths[e.Offset] = p
				continue
			}
			if e.Deleted && e.Size > 0 && e.FirstCluster >= 2 && e.FirstCluster <= v.last {
				out = append(out, fatDeleted{e, p})
			}
		}
		return nil
	})
	var notes []string
	if len(lost) > 0 {
		notes = append(notes, fmt.Sprintf("deleted directories whose clusters hold other data since, not searched: %d (first: %s)", len(lost), lost[0]))
	}
	if err == nil && len(broken) > 0 {
		err = fmt.Errorf("directories that could not be read, the deleted files in them not listed: %d (first: %s)", len(broken), broken[0])
	}
	return out, notes, err
}

// fatName is an entry's long name when one survived, else its 8.3 name,
// the first character of a deleted one (lost to the deletion mark, which
// fatfs shows as '?') shown as '_'.
func fatName(e *fatfs.Entry) string {
	if e.Deleted && !e.HasLongName {
		return "_" + e.ShortName[1:]
	}
	return e.Name
}

// deleted lists the deleted files of the volume, each rebuilt over the
// free clusters from its first one (deletion zeroed its chain), which its
// notes say. Extents are relative to the volume start, like the other
// readers'.
func (v *fatVolume) deleted(ctx context.Context, progress func(int64, int64)) ([]*fsmeta.File, []string, error) {
	found, notes, err := v.walk(ctx, progress)
	var out []*fsmeta.File
	var work int64
	for _, d := range found {
		out = append(out, v.rebuild(d, &work))
	}
	return out, notes, err
}

// rebuild lays a deleted file over the free clusters from its first one.
func (v *fatVolume) rebuild(d fatDeleted, work *int64) *fsmeta.File {
	size := int64(d.Size)
	file := &fsmeta.File{FS: "fat", ID: fmt.Sprintf("deleted directory entry at byte %d (first cluster %d)", v.start+d.Offset, d.FirstCluster),
		Name: fatName(&d.Entry), Path: d.path, Size: size, Modified: writtenAt(&d.Entry)}
	runs, got := v.freeRunsFrom(d.FirstCluster, size, work)
	for _, r := range runs {
		file.Append(r, fatMaxExtents)
	}
	file.Notes = append(file.Notes, "FAT chain zeroed by deletion: assumed the file continues over the clusters the FAT shows free (unproven)")
	if got < size {
		file.Notes = append(file.Notes, fmt.Sprintf("only %d of %d bytes in free clusters", got, size))
	}
	if !v.isFree(d.FirstCluster) {
		file.Notes = append(file.Notes, fmt.Sprintf("its first cluster %d belongs to a live file now", d.FirstCluster))
	}
	if *work >= fatMaxWork {
		file.Notes = append(file.Notes, fmt.Sprintf("rebuilding stopped: the volume's deleted entries exceed the work limit (%d steps)", fatMaxWork))
	}
	return file
}

// writtenAt is when the file was last written on this volume: copying
// keeps a file's modification time and sets its creation time to the
// copy's, so the later of the two. FAT times have no zone; within one
// volume they compare all the same.
func writtenAt(e *fatfs.Entry) time.Time {
	if e.Created.After(e.Modified) {
		return e.Created
	}
	return e.Modified
}

// deletedSize finds the size of the deleted file whose directory entry
// names first as its first cluster (or its low 16 bits: some systems
// clear the high word on delete); 0 when none does.
func (v *fatVolume) deletedSize(ctx context.Context, first uint32) int64 {
	if v.found == nil {
		v.found, _, _ = v.walk(ctx, nil)
		if v.found == nil {
			v.found = []fatDeleted{}
		}
	}
	for _, d := range v.found {
		if d.FirstCluster == first || d.FirstCluster>>16 == 0 && d.FirstCluster == first&0xFFFF {
			return int64(d.Size)
		}
	}
	return 0
}

// tryFAT rebuilds r from the free clusters following its first cluster.
func tryFAT(ctx context.Context, src io.ReaderAt, size int64, fats []*fatVolume, r *Recovered, o RecoverOptions) bool {
	var v *fatVolume
	for _, x := range fats {
		if r.Offset >= x.start+x.fs.DataOffset && r.Offset < x.start+x.size {
			v = x
		}
	}
	if v == nil {
		return false
	}
	cs := v.fs.ClusterSize
	rel := r.Offset - v.start - v.fs.DataOffset
	if rel%cs != 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("the image does not start on a FAT cluster boundary (cluster size %d): not a file of that file system", cs))
		return false
	}
	first := uint32(rel/cs) + 2
	if err := v.loadAlloc(); err != nil {
		r.Attempts = append(r.Attempts, err.Error())
		return false
	}
	if !v.isFree(first) {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: cluster %d, where the image starts, belongs to a live file; the deleted image's clusters cannot be told apart", v.start, first))
		return false
	}
	want := v.deletedSize(ctx, first)
	how := "size from its deleted directory entry"
	if want == 0 {
		want, how = r.Size, "size from the image's own structures (no directory entry found)"
	}
	var work int64
	runs, got := v.freeRunsFrom(first, want, &work)
	if got < want {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: only %d free bytes follow cluster %d, the image needs %d", v.start, got, first, want))
		return false
	}
	if len(runs) == 1 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: the free clusters after cluster %d are one run, the same bytes as the contiguous copy", v.start, first))
		return false
	}
	for i := range runs {
		runs[i].Physical += v.start
	}
	return tryLayouts(ctx, src, size, r, o, "FAT free clusters after the first ("+how+")", []layout{{want, runs}})
}
