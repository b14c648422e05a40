package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/isofsd/isofsd/isofmt"
)

// copyBufSize is each worker's buffer: plain pread/pwrite through it,
// since sendfile(2) from the image was measured slower and
// copy_file_range(2) fails between file systems (README.md, bench).
const copyBufSize = 1 << 20

// Files of bigFileSize bytes or more are copied by all workers at once,
// bigChunkSize bytes per job (a Linux ISO is mostly one large squashfs).
const (
	bigFileSize  = 32 << 20
	bigChunkSize = 16 << 20
)

// Holes: a run of zero bytes of at least holeMin, in whole holeAlign
// blocks of the file, is not written but left as a hole, as xorriso
// -osirrox sparse= does (its runs are its 32 or 64 KiB read buffers):
// a zisofs file of zeros or an installer's empty disk image takes no
// space where the file system makes holes of what is not written (ext4,
// XFS, Btrfs, tmpfs, APFS; NTFS fills them with zeros). Files are always
// written fresh (O_EXCL, or a new temporary file), so what is not
// written reads as zeros. Parts of a file the image does not record at
// all (UDF's sparse extents) are not even read.
const (
	holeAlign = 4 << 10
	holeMin   = 32 << 10
)

var zeroBlock [holeAlign]byte

// Prefetch limits: files up to prefetchFile bytes, read together when the
// span they cover is at most prefetchSpan and mostly their own data.
const (
	prefetchFile = 64 << 10
	prefetchSpan = 1 << 20
)

// job is a batch of neighbouring entries, or one range of a big file.
type job struct {
	batch    []*entry
	big      *bigCopy
	from, to int64
}

// worker creates entries; each has its own buffer and directory chain.
type worker struct {
	x     *run
	chain *chain
	buf   []byte
	// pre holds the image bytes from preOff read ahead for a batch.
	pre    []byte
	preOff int64
	pbuf   []byte
}

func (x *run) newWorker() *worker {
	return &worker{x: x, chain: &chain{x: x}, buf: make([]byte, copyBufSize)}
}

// errInterrupted stops a copy when the run's context is cancelled.
var errInterrupted = errors.New("interrupted")

// ---- phase 2: files and other entries ----

// copyAll creates everything but directories and second hard links (which
// it returns) with the worker pool. Each worker has its own queue, and all
// files of one directory go to the same worker: creating entries locks the
// parent directory in the kernel, so two workers filling one directory
// mostly wait on each other. Ranges of big files go to every worker in turn.
func (x *run) copyAll() (links []*entry) {
	n := x.o.Workers
	queues := make([]chan job, n)
	var wg sync.WaitGroup
	for i := range n {
		queues[i] = make(chan job, 4)
		jobs := queues[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := x.newWorker()
			defer w.chain.close()
			for j := range jobs {
				if j.big != nil {
					w.copyChunk(j.big, j.from, j.to)
					continue
				}
				if x.ctx.Err() != nil {
					continue
				}
				w.prefetch(j.batch)
				for _, e := range j.batch {
					w.extract(e)
				}
				w.pre = nil
			}
		}()
	}
	owner := map[int]int{} // directory plan index -> worker
	next := 0
	send := func(j job) {
		var q int
		if j.big != nil {
			q = next % n
			next++
		} else {
			dir := j.batch[0].parent
			o, ok := owner[dir]
			if !ok {
				o = next % n
				next++
				owner[dir] = o
			}
			q = o
		}
		queues[q] <- j
	}
	producer := &worker{x: x, chain: &chain{x: x}}
	var batch []*entry
	var batchBytes int64
	for _, e := range x.plan {
		if x.ctx.Err() != nil {
			break
		}
		switch {
		case e.isDir():
			continue
		case e.linkTo >= 0:
			links = append(links, e)
			continue
		case n > 1 && e.isRegular() && e.size() >= bigFileSize:
			// One large file would keep one worker busy while the others
			// idle: split it into ranges copied in parallel. The files
			// before it go first.
			if len(batch) > 0 {
				send(job{batch: batch})
				batch, batchBytes = nil, 0
			}
			if bc := producer.startBig(e); bc != nil {
				for _, r := range bc.ranges {
					for from := r.Offset; from < r.End(); from += bigChunkSize {
						send(job{big: bc, from: from, to: min(from+bigChunkSize, r.End())})
					}
				}
			}
			continue
		}
		if len(batch) > 0 && (batch[len(batch)-1].parent != e.parent || len(batch) >= 64 || batchBytes >= 4<<20) {
			send(job{batch: batch})
			batch, batchBytes = nil, 0
		}
		batch = append(batch, e)
		batchBytes += e.size()
	}
	if len(batch) > 0 {
		send(job{batch: batch})
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	producer.chain.close()
	return links
}

// extract creates one entry of any type but directory.
func (w *worker) extract(e *entry) {
	x := w.x
	if x.ctx.Err() != nil || !x.inherit(e) {
		return
	}
	d, err := w.chain.get(e.parent)
	if err != nil {
		x.fail(e, err)
		return
	}
	if e.data != nil {
		m, perm := x.meta(e)
		w.writeFile(d, e, e.data, perm, m)
		return
	}
	st := &e.node.Stat
	m, perm := x.meta(e)
	switch typ := st.Mode.Type(); {
	case st.Mode.IsRegular():
		var r io.ReaderAt = x.img.OpenNode(e.node)
		if off, n, ok := plainExtent(e); ok && w.pre != nil && off >= w.preOff && off+n <= w.preOff+int64(len(w.pre)) {
			r = bytes.NewReader(w.pre[off-w.preOff : off-w.preOff+n])
		}
		w.writeFile(d, e, r, perm, m)
	case typ == fs.ModeSymlink:
		if st.Target == "" || strings.IndexByte(st.Target, 0) >= 0 {
			x.fail(e, fmt.Errorf("refused: symlink target %q is empty or holds a NUL byte", st.Target))
			return
		}
		w.place(d, e, func(name string) error { return d.symlink(st.Target, name) },
			func(name string) error { return d.setMeta(name, fs.ModeSymlink, m) })
	case typ&fs.ModeDevice != 0 && !x.o.Metadata.Devices:
		x.skip(e, false, fmt.Errorf("device node %d,%d needs root", st.DevMajor(), st.DevMinor()))
	case typ == fs.ModeNamedPipe || typ&fs.ModeDevice != 0:
		w.place(d, e, func(name string) error { return d.mknod(name, typ, perm, st.DevMajor(), st.DevMinor()) },
			func(name string) error { return d.setMeta(name, typ, m) })
	default:
		x.skip(e, false, fmt.Errorf("%ss are not extracted", typeName(typ)))
	}
}

// place creates e in d through mk, which makes a new entry or fails with
// EEXIST, under the overwrite policy; fin sets the new entry's metadata
// (under Replace before it is renamed over the old one).
func (w *worker) place(d dirHandle, e *entry, mk, fin func(name string) error) bool {
	x := w.x
	name := e.name
	err := mk(name)
	if isExist(err) {
		switch x.o.Overwrite {
		case Refuse:
			x.fail(e, fmt.Errorf("refused: %w", ErrExists))
			return false
		case Skip:
			x.skip(e, true, ErrExists)
			return false
		case Rename:
			name, err = freeName(e.name, mk)
		case Replace:
			tmp := tempName()
			if err = mk(tmp); err != nil {
				break
			}
			if err = fin(tmp); err == nil {
				err = replace(d, tmp, e.name)
			}
			if err != nil {
				d.remove(tmp)
				x.fail(e, err)
				return false
			}
			e.dest = e.name
			e.state.Store(done)
			return true
		}
	}
	if errors.Is(err, errNotHere) {
		x.skip(e, false, fmt.Errorf("%ss are not created on this system", typeName(e.node.Stat.Mode.Type())))
		return false
	}
	if err != nil {
		x.fail(e, fmt.Errorf("creating: %w", err))
		return false
	}
	e.dest = name
	if err := fin(name); err != nil {
		x.fail(e, err)
		return false
	}
	e.state.Store(done)
	return true
}

// replace renames tmp over name: atomically over a file or a symlink (the
// symlink itself is replaced, never followed); an empty directory in the
// way is removed first, a non-empty one is left alone.
func replace(d dirHandle, tmp, name string) error {
	err := d.rename(tmp, name, true)
	if err == nil {
		return nil
	}
	if typ, _, serr := d.lstat(name); serr == nil && typ == fs.ModeDir {
		if rerr := d.remove(name); rerr != nil {
			return fmt.Errorf("replacing a directory: %w", rerr)
		}
		err = d.rename(tmp, name, true)
	}
	return err
}

// create makes a new regular file for e under the overwrite policy. It
// returns the file and the name it was created under; final is the name
// to rename it to once complete ("" when it already has its final name).
func (w *worker) create(d dirHandle, e *entry, perm fs.FileMode) (f outFile, name, final string, ok bool) {
	x := w.x
	mk := func(n string) error {
		var err error
		f, err = d.create(n, perm)
		return err
	}
	name = e.name
	err := mk(name)
	if isExist(err) {
		switch x.o.Overwrite {
		case Refuse:
			x.fail(e, fmt.Errorf("refused: %w", ErrExists))
			return nil, "", "", false
		case Skip:
			x.skip(e, true, ErrExists)
			return nil, "", "", false
		case Rename:
			name, err = freeName(e.name, mk)
		case Replace:
			// The old file stays until the new one is complete.
			name, final = tempName(), e.name
			if err = mk(name); err == nil {
				f.lockTemp()
			}
		}
	}
	if err != nil {
		x.fail(e, fmt.Errorf("creating: %w", err))
		return nil, "", "", false
	}
	return f, name, final, true
}

// writeFile creates e and copies its data from r.
func (w *worker) writeFile(d dirHandle, e *entry, r io.ReaderAt, perm fs.FileMode, m meta) {
	f, name, final, ok := w.create(d, e, perm)
	if !ok {
		return
	}
	written, holes, err := w.copy(f, e, r)
	if err == errInterrupted {
		abandon(d, f, name)
		return
	}
	w.finishFile(d, e, f, name, final, m, written, holes, err)
}

// finishFile sets the metadata of a file whose copy ended, closes it,
// renames it into place and reports a partial copy. holes says parts
// were left unwritten, the end perhaps.
func (w *worker) finishFile(d dirHandle, e *entry, f outFile, name, final string, m meta, written []Range, holes bool, cerr error) {
	x := w.x
	ok := true
	switch {
	case cerr == nil && (e.ranges != nil || holes):
		// The holes between and after the ranges copied.
		if err := f.truncate(e.size()); err != nil {
			cerr = fmt.Errorf("extending to %d bytes: %w", e.size(), err)
		}
	case cerr != nil && holes && len(written) > 0:
		// A kept partial file ends where its written part does.
		f.truncate(written[len(written)-1].End())
	}
	if cerr != nil {
		ok = false
		var n int64
		for _, r := range written {
			n += r.Length
		}
		x.event(Event{Kind: Failed, Path: e.rel, Sector: e.sector(), Type: "-", Size: e.size(), Written: written, Kept: true,
			Err: fmt.Errorf("%w (%d of %d bytes written; partial file kept)", cerr, n, e.size())})
	}
	if err := f.setMeta(m); err != nil {
		ok = false
		x.event(Event{Kind: Failed, Path: e.rel, Sector: e.sector(), Type: "-", Size: e.size(), Err: err})
	}
	if e.linked {
		e.id, _ = f.id()
	}
	if err := f.close(); err != nil && ok {
		ok = false
		x.event(Event{Kind: Failed, Path: e.rel, Sector: e.sector(), Type: "-", Size: e.size(), Err: fmt.Errorf("closing: %w", err)})
	}
	e.dest = name
	if final != "" {
		if err := replace(d, name, final); err != nil {
			d.remove(name)
			x.fail(e, err)
			return
		}
		e.dest = final
	}
	if !ok {
		e.state.Store(failed)
		return
	}
	if e.ranges != nil {
		x.event(Event{Kind: Partial, Path: e.rel, Sector: e.sector(), Type: "-", Size: e.size(), Written: written, Err: errors.New(e.why)})
	}
	e.state.Store(done)
}

// abandon removes a file whose copy was interrupted, if the name still
// holds it: no truncated file is left under a name that looks complete.
func abandon(d dirHandle, f outFile, name string) {
	id, err := f.id()
	f.close()
	if _, got, lerr := d.lstat(name); err == nil && lerr == nil && sameID(got, id) {
		d.remove(name)
	}
}

// rangesOf returns the parts of e to copy.
func rangesOf(e *entry) []Range {
	if e.ranges != nil {
		return e.ranges
	}
	if e.size() == 0 {
		return nil
	}
	return []Range{{0, e.size()}}
}

// copy copies e's ranges from r through the worker's buffer. It returns
// what was written (holes included: they are the file's zeros) and
// whether holes were left; on a read error, the error and the part
// before it.
func (w *worker) copy(f outFile, e *entry, r io.ReaderAt) (written []Range, holes bool, err error) {
	unrec := unrecorded(e)
	for _, rg := range rangesOf(e) {
		n, h, err := w.copyRange(f, r, rg.Offset, rg.End(), e.size(), unrec)
		holes = holes || h
		if n > 0 {
			written = append(written, Range{rg.Offset, n})
		}
		if err != nil {
			return written, holes, err
		}
	}
	return written, holes, nil
}

// unrecorded lists the parts of e's file that the image does not record
// (UDF's sparse extents): they read as zeros, so they are not read.
func unrecorded(e *entry) []Range {
	if e.node == nil || e.node.Stat.Zisofs != nil {
		return nil
	}
	var out []Range
	var pos int64
	for _, x := range e.node.Stat.Extents {
		if x.Sparse && x.Length > 0 {
			if n := len(out); n > 0 && out[n-1].End() == pos {
				out[n-1].Length += x.Length
			} else {
				out = append(out, Range{pos, x.Length})
			}
		}
		pos += x.Length
	}
	return out
}

// copyRange copies [from, to) of a file of size bytes, skipping the
// unrecorded ranges and not writing runs of zeros (holes reports either),
// and returns the bytes done before any error.
func (w *worker) copyRange(f outFile, r io.ReaderAt, from, to, size int64, unrec []Range) (done int64, holes bool, err error) {
	x := w.x
	off := from
	for off < to {
		if x.ctx.Err() != nil {
			return off - from, holes, errInterrupted
		}
		end := min(int64(len(w.buf)), to-off) + off
		skip := false
		for _, u := range unrec {
			switch {
			case u.Offset <= off && off < u.End():
				end, skip = min(u.End(), to), true
			case off < u.Offset && u.Offset < end:
				end = u.Offset
			}
		}
		if skip {
			w.count(end - off)
			off, holes = end, true
			continue
		}
		b := w.buf[:end-off]
		n, rerr := r.ReadAt(b, off)
		if n > 0 {
			h, werr := writeSparse(f, b[:n], off)
			if werr != nil {
				return off - from, holes, fmt.Errorf("writing at byte %d: %w", off, werr)
			}
			holes = holes || h
			off += int64(n)
			w.count(int64(n))
		}
		if rerr != nil && !(rerr == io.EOF && off == to) {
			if rerr == io.EOF {
				rerr = fmt.Errorf("file ends at byte %d, %d expected: %w", off, size, isofmt.ErrTruncated)
			}
			return off - from, holes, rerr
		}
	}
	return off - from, holes, nil
}

// count adds n bytes done to the totals and the progress.
func (w *worker) count(n int64) {
	w.x.bytes.Add(n)
	if w.x.o.Progress != nil {
		w.x.o.Progress.Add(n)
	}
}

// writeSparse writes b at off in f but for the runs of holeMin or more
// zero bytes in whole holeAlign blocks of the file, and reports whether
// it left any out. Comparing a block with zeros stops at its first
// non-zero word, so data costs next to nothing; small writes are not
// looked at.
func writeSparse(f outFile, b []byte, off int64) (holes bool, err error) {
	if len(b) < holeMin {
		_, err = f.WriteAt(b, off)
		return false, err
	}
	start := 0 // the first byte neither written nor left out
	i := int((holeAlign - off%holeAlign) % holeAlign)
	for i+holeAlign <= len(b) {
		if !bytes.Equal(b[i:i+holeAlign], zeroBlock[:]) {
			i += holeAlign
			continue
		}
		j := i + holeAlign
		for j+holeAlign <= len(b) && bytes.Equal(b[j:j+holeAlign], zeroBlock[:]) {
			j += holeAlign
		}
		if j-i >= holeMin {
			if i > start {
				if _, err := f.WriteAt(b[start:i], off+int64(start)); err != nil {
					return holes, err
				}
			}
			start, holes = j, true
		}
		i = j
	}
	if start < len(b) {
		_, err = f.WriteAt(b[start:], off+int64(start))
	}
	return holes, err
}

// ---- big files ----

// bigCopy is a large file being filled by several workers.
type bigCopy struct {
	e      *entry
	r      io.ReaderAt
	d      dirHandle // its own handle on the directory, closed at the end
	f      outFile
	name   string
	final  string
	m      meta
	ranges []Range
	unrec  []Range
	holes  atomic.Bool
	left   atomic.Int64 // chunks not yet copied
	mu     sync.Mutex
	err    error   // first failure
	lost   []Range // parts not written because of failures
}

// startBig creates a big file's destination (in the producer, so the
// policies are those of every file) and returns it ready for copyChunk,
// or nil if that failed (already reported).
func (w *worker) startBig(e *entry) *bigCopy {
	x := w.x
	if !x.inherit(e) {
		return nil
	}
	d, err := w.chain.get(e.parent)
	if err == nil {
		// The chain moves on; the copy keeps this directory open.
		d, err = d.openDir(".")
	}
	if err != nil {
		x.fail(e, err)
		return nil
	}
	var r io.ReaderAt = e.data
	if e.node != nil {
		r = x.img.OpenNode(e.node)
	}
	m, perm := x.meta(e)
	f, name, final, ok := w.create(d, e, perm)
	if !ok {
		d.close()
		return nil
	}
	bc := &bigCopy{e: e, r: r, d: d, f: f, name: name, final: final, m: m, ranges: rangesOf(e), unrec: unrecorded(e)}
	var chunks int64
	for _, rg := range bc.ranges {
		chunks += (rg.Length + bigChunkSize - 1) / bigChunkSize
	}
	bc.left.Store(chunks)
	if chunks == 0 {
		w.finishFile(d, e, f, name, final, m, nil, false, nil)
		d.close()
		return nil
	}
	return bc
}

// copyChunk copies [from, to) of a big file; the worker finishing the
// last chunk sets the metadata and closes the file.
func (w *worker) copyChunk(bc *bigCopy, from, to int64) {
	n, holes, err := w.copyRange(bc.f, bc.r, from, to, bc.e.size(), bc.unrec)
	if holes {
		bc.holes.Store(true)
	}
	if err != nil {
		bc.mu.Lock()
		if bc.err == nil || bc.err == errInterrupted {
			bc.err = err
		}
		bc.lost = append(bc.lost, Range{from + n, to - from - n})
		bc.mu.Unlock()
	}
	if bc.left.Add(-1) != 0 {
		return
	}
	defer bc.d.close()
	if w.x.ctx.Err() != nil {
		abandon(bc.d, bc.f, bc.name)
		return
	}
	w.finishFile(bc.d, bc.e, bc.f, bc.name, bc.final, bc.m, Subtract(bc.ranges, clip(bc.lost, bc.e.size())), bc.holes.Load(), bc.err)
}

// ---- small files read together ----

// plainExtent returns the image range of a regular file stored as one
// uncompressed extent.
func plainExtent(e *entry) (off, n int64, ok bool) {
	if e.node == nil || !e.node.Stat.Mode.IsRegular() || e.ranges != nil {
		return 0, 0, false
	}
	st := &e.node.Stat
	if st.Zisofs != nil || len(st.Extents) != 1 || st.Extents[0].Sparse || st.Extents[0].Length != st.Size || st.Size == 0 {
		return 0, 0, false
	}
	return st.Extents[0].Offset, st.Size, true
}

// prefetch reads the data of a batch's small files with one pread when
// they lie close together in the image, as mastering tools write them:
// for many small files it saves a quarter of the syscalls. Any problem
// (an extent past the image end, a read error) leaves the per-file path
// to read and report it.
func (w *worker) prefetch(b []*entry) {
	w.pre = nil
	lo, hi, sum := int64(math.MaxInt64), int64(0), int64(0)
	count := 0
	for _, e := range b {
		off, n, ok := plainExtent(e)
		if !ok || n > prefetchFile || e.linkTo >= 0 {
			continue
		}
		lo, hi, sum = min(lo, off), max(hi, off+n), sum+n
		count++
	}
	if count < 2 || hi-lo > prefetchSpan || hi-lo > 2*sum+64<<10 || hi > w.x.img.Size() {
		return
	}
	if w.pbuf == nil {
		w.pbuf = make([]byte, prefetchSpan)
	}
	if n, _ := w.x.img.Source().ReadAt(w.pbuf[:hi-lo], lo); int64(n) == hi-lo {
		w.pre, w.preOff = w.pbuf[:hi-lo], lo
	}
}

// ---- phase 3: hard links ----

// makeLinks makes the second names of hard links, now that the first
// names exist; a link whose first name failed becomes a copy.
func (x *run) makeLinks(links []*entry) {
	w := x.newWorker()
	defer w.chain.close()
	for _, e := range links {
		if x.ctx.Err() != nil {
			return
		}
		if !x.inherit(e) {
			continue
		}
		first := x.plan[e.linkTo]
		if first.state.Load() != done || first.id == nil {
			e.linkTo = -1
			w.extract(e)
			continue
		}
		src, err := w.chain.get(first.parent)
		if err == nil {
			// The chain holds one path only: keep the source directory
			// open while the destination's chain is walked.
			src, err = src.openDir(".")
		}
		if err != nil {
			x.fail(e, err)
			continue
		}
		d, err := w.chain.get(e.parent)
		if err != nil {
			src.close()
			x.fail(e, err)
			continue
		}
		w.place(d, e, func(name string) error { return d.link(src, first.dest, first.id, name) },
			func(string) error { return nil })
		src.close()
	}
}
