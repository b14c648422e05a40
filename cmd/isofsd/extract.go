//go:build linux

package main

// `isofsd extract`: copy files out of an image into a directory, safely
// and fast.
//
// Safety model. Nothing is ever written outside DIR:
//   - every name taken from the image is checked before use: "", ".", "..",
//     and names holding "/" or NUL are refused (with the path named);
//   - the destination is reached only through directory file descriptors,
//     opened one component at a time with O_NOFOLLOW|O_DIRECTORY, and
//     entries are created relative to those (mkdirat, openat with
//     O_CREAT|O_EXCL|O_NOFOLLOW, symlinkat, linkat without following,
//     mknodat), so a symlink — whether it came from the image or was
//     already there — is never followed while writing;
//   - symlinks are recreated verbatim (their targets may point anywhere,
//     as tar and xorriso do) but never traversed by the extraction;
//   - an existing entry is never replaced without --force; an existing
//     real directory is merged into;
//   - devices are created only when running as root; directories are made
//     0700 while being filled and get their own mode last.
//
// Speed. The image tree is walked first (metadata only) into a plan; the
// directories are created in one pass; then a pool of workers copies
// batches of files, each worker keeping its own chain of open directory
// descriptors, with 1 MiB buffers; hard links and directory metadata come
// last.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt"
)

type extractFlags struct {
	dir   string
	tree  string
	boot  bool
	force bool
	jobs  int
}

func newExtractCmd(a *app) *cobra.Command {
	var f extractFlags
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "extract IMAGE [PATH|GLOB...] -C DIR",
		Short: "Copy files out of an image, preserving modes, times and links",
		Long: `extract copies the files of IMAGE (all of them, or those named by PATH or
GLOB arguments) into DIR, preserving permissions, modification and access
times, symlinks, hard links and — as root — owners and device nodes.

A PATH or GLOB is matched against the whole image path (path.Match rules:
"*" does not cross "/"), without a leading "/"; a match on a directory
selects everything below it. Examples: boot, 'isolinux/*.c32', '*/README*'.

Nothing is written outside DIR: names "..", names holding "/" or NUL and
paths through symlinks are refused with a message naming the path, and
existing files are not replaced unless --force is given. --boot also writes
the El Torito boot images to DIR/[BOOT]/.

Exit status: 0 ok, 1 some entries could not be extracted (each is reported
with the image, the path and the sector; the others are extracted),
2 usage or the image cannot be opened.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.dir == "" {
				return withCode(exitUsage, errors.New("extract: -C DIR is required"))
			}
			if f.jobs < 1 || f.jobs > 256 {
				return withCode(exitUsage, fmt.Errorf("extract: -j %d: want 1..256", f.jobs))
			}
			pats, err := compilePatterns(args[1:])
			if err != nil {
				return withCode(exitUsage, err)
			}
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], f.tree)
			if err != nil {
				return err
			}
			defer closeImg()
			x := &extractor{img: img, imgName: args[0], force: f.force, jobs: f.jobs,
				asRoot: os.Geteuid() == 0, errw: cmd.ErrOrStderr()}
			res, err := x.run(f.dir, pats, f.boot)
			if err != nil {
				return err
			}
			if res.failed > 0 {
				return withCode(exitDamaged, fmt.Errorf("extract: %s: %d problems (reported above); %d of %d entries extracted",
					args[0], res.failed, res.entries-res.failedEntries-res.skipped, res.entries))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.dir, "directory", "C", "", "extract into DIR (created if missing)")
	treeVar(fl, &f.tree, treeFlagHelp)
	addSourceFlags(cmd, &sf)
	fl.BoolVar(&f.boot, "boot", false, "also write the El Torito boot images to DIR/[BOOT]/")
	fl.BoolVar(&f.force, "force", false, "replace existing files, symlinks and empty directories")
	fl.IntVarP(&f.jobs, "jobs", "j", min(runtime.NumCPU(), 8), "parallel file copies")
	return cmd
}

// ---- selection ----

// pattern is one PATH|GLOB argument split into elements.
type pattern struct {
	raw   string
	elems []string
	hits  int
}

func compilePatterns(args []string) ([]*pattern, error) {
	var out []*pattern
	for _, a := range args {
		p := cleanImagePath(a)
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("extract: pattern %q: %w", a, err)
		}
		if p == "." {
			// "/" or "." selects everything.
			return nil, nil
		}
		out = append(out, &pattern{raw: a, elems: strings.Split(p, "/")})
	}
	return out, nil
}

// matchElems reports whether the leading len(elems) elements of p match
// elems, and whether p is then fully matched.
func (p *pattern) matchElems(elems []string) (prefix, full bool) {
	if len(elems) > len(p.elems) {
		// Below a matched path: the caller tracks that.
		return false, false
	}
	for i, e := range elems {
		if ok, _ := path.Match(p.elems[i], e); !ok {
			return false, false
		}
	}
	return true, len(elems) == len(p.elems)
}

// ---- plan ----

// planEntry is one entry to create, in preorder (parents first).
type planEntry struct {
	node   *isofmt.Node
	name   string
	rel    string // slash path below DIR, for messages
	parent int    // index of the parent directory entry; -1 is DIR itself
	linkTo int    // for a second hard link: index of the first; else -1
	failed atomic.Bool
	// data is set for content that does not come from a node (boot images).
	data   io.ReaderAt
	dataSz int64
}

// isDir reports whether e is a directory (of the image, or [BOOT]).
func (e *planEntry) isDir() bool {
	if e.node == nil {
		return e.data == nil
	}
	return e.node.IsDir()
}

type extractor struct {
	img     *isofmt.Image
	imgName string
	force   bool
	jobs    int
	asRoot  bool
	errw    io.Writer

	// umask, euid and egid decide which chmod/chown calls are needed.
	umask      uint32
	euid, egid int

	plan   []*planEntry
	rootFD int
	prog   *progress

	mu      sync.Mutex
	failed  int
	skipped int
}

type extractResult struct {
	// entries is the size of the plan; failedEntries of them failed;
	// failed counts every problem reported (some concern no one entry).
	entries, failedEntries, failed, skipped int
	bytes                                   int64
}

// fail reports one entry that could not be extracted and counts it.
func (x *extractor) fail(e *planEntry, format string, args ...any) {
	if e != nil {
		e.failed.Store(true)
	}
	msg := fmt.Sprintf(format, args...)
	where := ""
	if e != nil {
		where = e.rel
		if e.node != nil {
			where += fmt.Sprintf(" (sector %d)", e.node.Stat.Sector())
		}
		where += ": "
	}
	x.mu.Lock()
	x.failed++
	fmt.Fprintf(x.errw, "isofsd: extract: %s: %s\n", x.imgName, termSafe(where+msg))
	x.mu.Unlock()
}

// skip reports an entry deliberately not created (not damage).
func (x *extractor) skip(e *planEntry, format string, args ...any) {
	x.mu.Lock()
	x.skipped++
	fmt.Fprintf(x.errw, "isofsd: extract: %s: %s\n", x.imgName, termSafe(e.rel+": skipped: "+fmt.Sprintf(format, args...)))
	x.mu.Unlock()
}

// buildPlan walks the selected part of the tree, metadata only.
func (x *extractor) buildPlan(pats []*pattern) error {
	root, err := x.img.Root()
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("%s: root directory: %w", x.imgName, err))
	}
	seenDir := map[int64]string{}
	firstLink := map[uint64]int{}
	type frame struct {
		node  *isofmt.Node
		rel   string
		elems []string
		idx   int
		// active holds the patterns whose leading elements match so far;
		// all is set once the directory itself is selected.
		active []*pattern
		all    bool
	}
	var walk func(fr frame, depth int) bool
	walk = func(fr frame, depth int) bool {
		kids, err := x.img.ReadDirNode(fr.node)
		if err != nil {
			e := &planEntry{node: fr.node, rel: fr.rel}
			if fr.rel == "" {
				e.rel = "/"
			}
			x.fail(e, "reading directory: %v (%d entries read before the damage are extracted)", err, len(kids))
		}
		any := false
		for _, k := range kids {
			rel := k.Name
			if fr.rel != "" {
				rel = fr.rel + "/" + k.Name
			}
			if err := checkName(k.Name); err != nil {
				x.fail(&planEntry{node: k, rel: rel}, "refused: %v", err)
				continue
			}
			elems := append(fr.elems[:len(fr.elems):len(fr.elems)], k.Name)
			sel := fr.all
			var active []*pattern
			if !sel {
				for _, p := range fr.active {
					prefix, full := p.matchElems(elems)
					if full {
						p.hits++
						sel = true
					} else if prefix {
						active = append(active, p)
					}
				}
			}
			if !sel && (len(active) == 0 || !k.IsDir()) {
				continue
			}
			e := &planEntry{node: k, name: k.Name, rel: rel, parent: fr.idx, linkTo: -1}
			if k.IsDir() {
				if depth+1 > isofmt.MaxDepth {
					x.fail(e, "refused: deeper than %d levels", isofmt.MaxDepth)
					continue
				}
				// A directory extent met twice is a loop or a shared
				// directory: extracting it again could never end.
				key := dirKey(&k.Stat)
				if prev, dup := seenDir[key]; dup {
					x.fail(e, "refused: directory data at sector %d already extracted as %s (loop or shared directory)", k.Stat.Sector(), prev)
					continue
				}
				seenDir[key] = rel
				mark := len(x.plan)
				x.plan = append(x.plan, e)
				if walk(frame{node: k, rel: rel, elems: elems, idx: mark, active: active, all: sel}, depth+1) || sel {
					any = true
				} else {
					// Nothing selected below: drop the directory again.
					x.plan = x.plan[:mark]
				}
				continue
			}
			if k.Stat.Mode.IsRegular() && k.Stat.Nlink > 1 {
				if first, ok := firstLink[k.Stat.Inode]; ok {
					e.linkTo = first
				} else {
					firstLink[k.Stat.Inode] = len(x.plan)
				}
			}
			x.plan = append(x.plan, e)
			any = true
		}
		return any
	}
	seenDir[dirKey(&root.Stat)] = "/"
	walk(frame{node: root, idx: -1, active: pats, all: len(pats) == 0}, 0)
	for _, p := range pats {
		if p.hits == 0 {
			x.fail(nil, "%s: not found in the image", p.raw)
		}
	}
	return nil
}

// ---- directory descriptors ----

// dirChain keeps the open descriptors of one path of directories below
// DIR, so consecutive entries in the same directory cost no lookups.
type dirChain struct {
	x   *extractor
	idx []int // plan indexes, outermost first
	fd  []int
}

// ancestors lists the plan indexes of dir idx and its parents, outermost first.
func (x *extractor) ancestors(idx int) []int {
	var a []int
	for i := idx; i >= 0; i = x.plan[i].parent {
		a = append(a, i)
	}
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
	return a
}

// get returns an open descriptor for plan directory idx (-1 is DIR),
// opening each component with O_NOFOLLOW so no symlink is ever crossed.
func (c *dirChain) get(idx int) (int, error) {
	if idx < 0 {
		c.truncate(0)
		return c.x.rootFD, nil
	}
	want := c.x.ancestors(idx)
	keep := 0
	for keep < len(want) && keep < len(c.idx) && want[keep] == c.idx[keep] {
		keep++
	}
	c.truncate(keep)
	for _, i := range want[keep:] {
		parent := c.x.rootFD
		if len(c.fd) > 0 {
			parent = c.fd[len(c.fd)-1]
		}
		if c.x.plan[i].failed.Load() {
			return -1, fmt.Errorf("directory %s was not created", c.x.plan[i].rel)
		}
		fd, err := unix.Openat(parent, c.x.plan[i].name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("opening directory %s: %w", c.x.plan[i].rel, err)
		}
		c.idx = append(c.idx, i)
		c.fd = append(c.fd, fd)
	}
	return c.fd[len(c.fd)-1], nil
}

func (c *dirChain) truncate(n int) {
	for _, fd := range c.fd[n:] {
		unix.Close(fd)
	}
	c.idx, c.fd = c.idx[:n], c.fd[:n]
}

func (c *dirChain) close() { c.truncate(0) }

// ---- run ----

func (x *extractor) run(dir string, pats []*pattern, boot bool) (extractResult, error) {
	if err := x.buildPlan(pats); err != nil {
		return extractResult{}, err
	}
	if boot {
		if err := x.planBoot(); err != nil {
			x.fail(nil, "boot images: %v", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return extractResult{}, withCode(exitUsage, fmt.Errorf("extract: %w", err))
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return extractResult{}, withCode(exitUsage, fmt.Errorf("extract: %s: %w", dir, err))
	}
	x.rootFD = fd
	defer unix.Close(fd)
	// Read the umask (setting it back at once): entries are created with
	// their final permissions and chmod is called only where the umask
	// removed bits.
	x.umask = uint32(unix.Umask(0o022))
	unix.Umask(int(x.umask))
	x.euid, x.egid = os.Geteuid(), os.Getegid()

	var total int64
	for _, e := range x.plan {
		if e.node != nil && e.node.Stat.Mode.IsRegular() && e.linkTo < 0 {
			total += e.node.Stat.Size
		}
		total += e.dataSz
	}
	x.prog = newProgress(total, "extract")
	defer x.prog.Finish()

	// 1. Directories, in preorder, by one goroutine.
	chain := &dirChain{x: x}
	for _, e := range x.plan {
		if e.isDir() {
			x.makeDir(chain, e)
		}
	}
	chain.close()

	// 2. Everything else but second hard links, by the worker pool, in
	// batches of neighbours so each worker stays in one directory.
	// Each worker has its own queue, and all files of one directory go to
	// the same worker: creating entries locks the parent directory in the
	// kernel, so two workers filling one directory mostly wait on each
	// other. Ranges of big files go to every worker in turn.
	queues := make([]chan extractJob, x.jobs)
	var wg sync.WaitGroup
	for i := range x.jobs {
		queues[i] = make(chan extractJob, 4)
		batches := queues[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &extractWorker{x: x, chain: &dirChain{x: x}, buf: make([]byte, copyBufSize)}
			defer w.chain.close()
			for j := range batches {
				if j.big != nil {
					w.copyChunk(j.big, j.from, j.to)
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
	var batch []*planEntry
	var batchBytes int64
	var links []*planEntry
	producer := &extractWorker{x: x, chain: &dirChain{x: x}}
	owner := map[int]int{} // directory plan index -> worker
	next := 0
	send := func(j extractJob) {
		var q int
		if j.big != nil {
			q = next % x.jobs
			next++
		} else {
			dir := j.batch[0].parent
			o, ok := owner[dir]
			if !ok {
				o = next % x.jobs
				next++
				owner[dir] = o
			}
			q = o
		}
		queues[q] <- j
	}
	for _, e := range x.plan {
		if e.isDir() {
			continue
		}
		if e.linkTo >= 0 {
			links = append(links, e)
			continue
		}
		if x.jobs > 1 && e.node != nil && e.node.Stat.Mode.IsRegular() && e.node.Stat.Size >= bigFileSize {
			// One large file would keep one worker busy while the
			// others idle: split it into ranges copied in parallel.
			if bc := producer.startBig(e); bc != nil {
				for from := int64(0); from < bc.size; from += bigChunkSize {
					send(extractJob{big: bc, from: from, to: min(from+bigChunkSize, bc.size)})
				}
			}
			continue
		}
		if len(batch) > 0 && (batch[len(batch)-1].parent != e.parent || len(batch) >= 64 || batchBytes >= 4<<20) {
			send(extractJob{batch: batch})
			batch, batchBytes = nil, 0
		}
		batch = append(batch, e)
		if e.node != nil {
			batchBytes += e.node.Stat.Size
		}
	}
	if len(batch) > 0 {
		send(extractJob{batch: batch})
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	producer.chain.close()

	// 3. Hard links, now that their first names exist.
	w := &extractWorker{x: x, chain: &dirChain{x: x}, buf: make([]byte, copyBufSize)}
	for _, e := range links {
		w.link(e)
	}
	w.chain.close()

	// 4. Directory metadata, children before parents: filling a directory
	// changes its mtime, and a read-only mode would stop the filling.
	for i := len(x.plan) - 1; i >= 0; i-- {
		e := x.plan[i]
		if e.isDir() && !e.failed.Load() {
			w.finishDir(e)
		}
	}
	w.chain.close()

	// A truncated image may have lost files that no directory read could
	// notice: that is damage even when every listed file was complete.
	if in := x.img.Info(); in.Truncated {
		x.fail(nil, "image truncated: the volume claims %d bytes, the image has %d (ends in sector %d); files beyond it are missing",
			in.VolumeSize, in.ImageSize, in.ImageSize/isofmt.SectorSize)
	}
	for _, w := range x.img.Warnings() {
		fmt.Fprintf(x.errw, "isofsd: extract: %s: warning: %s\n", x.imgName, termSafe(w))
	}
	res := extractResult{entries: len(x.plan), failed: x.failed, skipped: x.skipped, bytes: x.prog.Done()}
	for _, e := range x.plan {
		if e.failed.Load() {
			res.failedEntries++
		}
	}
	return res, nil
}

// makeDir creates (or merges into) directory e.
func (x *extractor) makeDir(c *dirChain, e *planEntry) {
	if e.parent >= 0 && x.plan[e.parent].failed.Load() {
		e.failed.Store(true) // already reported at the parent
		return
	}
	pfd, err := c.get(e.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	for attempt := 0; ; attempt++ {
		err = unix.Mkdirat(pfd, e.name, 0o700)
		if err == nil || !errors.Is(err, unix.EEXIST) {
			break
		}
		// Something is there: merge into a real directory, never follow
		// a symlink, replace anything else only with --force.
		var st unix.Stat_t
		if serr := unix.Fstatat(pfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil {
			err = serr
			break
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = nil
			break
		}
		if !x.force || attempt > 0 {
			x.fail(e, "refused: exists and is not a directory (use --force to replace it)")
			return
		}
		if err = unix.Unlinkat(pfd, e.name, 0); err != nil {
			break
		}
	}
	if err != nil {
		x.fail(e, "creating directory: %v", err)
	}
}

const copyBufSize = 1 << 20

// Files of bigFileSize bytes or more are copied by all workers at once,
// bigChunkSize bytes per job (a Linux ISO is mostly one large squashfs).
const (
	bigFileSize  = 32 << 20
	bigChunkSize = 16 << 20
)

// extractJob is a batch of neighbouring entries, or one range of a big file.
type extractJob struct {
	batch    []*planEntry
	big      *bigCopy
	from, to int64
}

// bigCopy is a large file being filled by several workers.
type bigCopy struct {
	e     *planEntry
	r     io.ReaderAt
	fd    int
	size  int64
	perm  uint32
	left  atomic.Int64 // ranges not yet copied
	mu    sync.Mutex
	err   error // first failure
	short int64 // bytes not written because of it
}

// startBig creates a big file's destination (in the producer, so the
// name checks and --force rules are those of every file) and returns it
// ready for copyChunk, or nil if it failed (already reported).
func (w *extractWorker) startBig(e *planEntry) *bigCopy {
	x := w.x
	if e.parent >= 0 && x.plan[e.parent].failed.Load() {
		e.failed.Store(true)
		return nil
	}
	dfd, err := w.chain.get(e.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return nil
	}
	bc := &bigCopy{e: e, r: x.img.OpenNode(e.node), size: e.node.Stat.Size, perm: modeBits(e.node.Stat.Mode, x.asRoot)}
	if !w.create(dfd, e, func() error {
		var err error
		bc.fd, err = unix.Openat(dfd, e.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, bc.perm&0o777)
		return err
	}) {
		return nil
	}
	bc.left.Store((bc.size + bigChunkSize - 1) / bigChunkSize)
	return bc
}

// copyChunk copies [from, to) of a big file; the worker finishing the
// last range sets the metadata and closes the file.
func (w *extractWorker) copyChunk(bc *bigCopy, from, to int64) {
	x := w.x
	for off := from; off < to; {
		b := w.buf[:min(int64(len(w.buf)), to-off)]
		n, rerr := bc.r.ReadAt(b, off)
		if n > 0 {
			if werr := pwriteAll(bc.fd, b[:n], off); werr != nil {
				rerr = fmt.Errorf("writing at byte %d: %w", off, werr)
				n = 0
			} else {
				off += int64(n)
				x.prog.Add(int64(n))
			}
		}
		if rerr != nil && !(rerr == io.EOF && off == to) {
			if rerr == io.EOF {
				rerr = fmt.Errorf("file ends at byte %d, %d expected: %w", off, bc.size, isofmt.ErrTruncated)
			}
			bc.mu.Lock()
			if bc.err == nil {
				bc.err = rerr
			}
			bc.short += to - off
			bc.mu.Unlock()
			break
		}
	}
	if bc.left.Add(-1) != 0 {
		return
	}
	if bc.err != nil {
		x.fail(bc.e, "%v (%d of %d bytes written; partial file kept)", bc.err, bc.size-bc.short, bc.size)
	}
	w.setMeta(-1, bc.e, bc.fd, bc.perm, w.needChmod(bc.perm))
	if err := unix.Close(bc.fd); err != nil {
		x.fail(bc.e, "closing: %v", err)
	}
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// modeBits turns a file mode into chmod bits: set-id bits only as root.
func modeBits(m fs.FileMode, asRoot bool) uint32 {
	perm := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		perm |= unix.S_ISVTX
	}
	if asRoot {
		// Like tar: set-id bits only when the owner is restored too.
		if m&fs.ModeSetuid != 0 {
			perm |= unix.S_ISUID
		}
		if m&fs.ModeSetgid != 0 {
			perm |= unix.S_ISGID
		}
	}
	return perm
}

// extractWorker copies entries; each worker has its own buffer and chain.
type extractWorker struct {
	x     *extractor
	chain *dirChain
	buf   []byte
	// pre holds the image bytes from preOff read ahead for a batch.
	pre    []byte
	preOff int64
	pbuf   []byte
}

// Prefetch limits: files up to prefetchFile bytes, read together when the
// span they cover is at most prefetchSpan and mostly their own data.
const (
	prefetchFile = 64 << 10
	prefetchSpan = 1 << 20
)

// plainExtent returns the image range of a regular file stored as one
// uncompressed extent.
func plainExtent(e *planEntry) (off, n int64, ok bool) {
	if e.node == nil || !e.node.Stat.Mode.IsRegular() {
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
func (w *extractWorker) prefetch(b []*planEntry) {
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

func (w *extractWorker) extract(e *planEntry) {
	x := w.x
	if e.parent >= 0 && x.plan[e.parent].failed.Load() {
		e.failed.Store(true)
		return
	}
	dfd, err := w.chain.get(e.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	if e.data != nil {
		w.writeFile(dfd, e, e.data, e.dataSz, 0o644)
		return
	}
	st := &e.node.Stat
	perm := modeBits(st.Mode, x.asRoot)
	switch m := st.Mode; {
	case m.IsRegular():
		var r io.ReaderAt = x.img.OpenNode(e.node)
		if off, n, ok := plainExtent(e); ok && w.pre != nil && off >= w.preOff && off+n <= w.preOff+int64(len(w.pre)) {
			r = bytes.NewReader(w.pre[off-w.preOff : off-w.preOff+n])
		}
		w.writeFile(dfd, e, r, st.Size, perm)
	case m&fs.ModeSymlink != 0:
		if st.Target == "" || strings.IndexByte(st.Target, 0) >= 0 {
			x.fail(e, "refused: symlink target %q is empty or holds a NUL byte", st.Target)
			return
		}
		if !w.create(dfd, e, func() error { return unix.Symlinkat(st.Target, dfd, e.name) }) {
			return
		}
		w.setMeta(dfd, e, -1, 0, false)
	case m&fs.ModeDevice != 0:
		if !x.asRoot {
			x.skip(e, "device node %d,%d needs root", st.DevMajor(), st.DevMinor())
			return
		}
		typ := uint32(unix.S_IFBLK)
		if m&fs.ModeCharDevice != 0 {
			typ = unix.S_IFCHR
		}
		if !w.create(dfd, e, func() error {
			return unix.Mknodat(dfd, e.name, typ|perm&0o777, int(unix.Mkdev(st.DevMajor(), st.DevMinor())))
		}) {
			return
		}
		w.setMeta(dfd, e, -1, perm, w.needChmod(perm))
	case m&fs.ModeNamedPipe != 0:
		if !w.create(dfd, e, func() error { return unix.Mkfifoat(dfd, e.name, perm&0o777) }) {
			return
		}
		w.setMeta(dfd, e, -1, perm, w.needChmod(perm))
	default:
		x.skip(e, "%s entries are not extracted", lsMode(m)[:1])
	}
}

// needChmod reports whether an entry created with perm's low bits lacks
// some of perm (taken by the umask, or set-id and sticky bits).
func (w *extractWorker) needChmod(perm uint32) bool {
	return perm&^0o777 != 0 || perm&w.x.umask != 0
}

// create runs mk; if the name exists and --force is set it removes the
// old entry (never a non-empty directory) and tries once more.
func (w *extractWorker) create(dfd int, e *planEntry, mk func() error) bool {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if !w.x.force {
			w.x.fail(e, "refused: already exists (use --force to replace it)")
			return false
		}
		if err = w.remove(dfd, e.name); err == nil {
			err = mk()
		}
	}
	if err != nil {
		w.x.fail(e, "creating: %v", err)
		return false
	}
	return true
}

func (w *extractWorker) remove(dfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); err != nil {
			return fmt.Errorf("replacing a directory: %w", err)
		}
		return nil
	}
	return unix.Unlinkat(dfd, name, 0)
}

// writeFile creates e and copies size bytes of r into it.
func (w *extractWorker) writeFile(dfd int, e *planEntry, r io.ReaderAt, size int64, perm uint32) {
	x := w.x
	var fd int
	if !w.create(dfd, e, func() error {
		var err error
		fd, err = unix.Openat(dfd, e.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm&0o777)
		return err
	}) {
		return
	}
	n, err := w.copy(fd, e, r, size)
	if err != nil {
		x.fail(e, "%v (%d of %d bytes written; partial file kept)", err, n, size)
	}
	w.setMeta(dfd, e, fd, perm, w.needChmod(perm))
	if cerr := unix.Close(fd); cerr != nil && err == nil {
		x.fail(e, "closing: %v", cerr)
	}
}

// copy moves the content through a 1 MiB buffer. sendfile(2) from the
// image file was slower than this (docs/benchmarks.md), and
// copy_file_range(2) fails with EXDEV between file systems (ext4 ->
// tmpfs), so plain pread/write it is.
func (w *extractWorker) copy(fd int, e *planEntry, r io.ReaderAt, size int64) (int64, error) {
	x := w.x
	var done int64
	for done < size {
		b := w.buf[:min(int64(len(w.buf)), size-done)]
		n, rerr := r.ReadAt(b, done)
		if n > 0 {
			if werr := writeAll(fd, b[:n]); werr != nil {
				return done, fmt.Errorf("writing: %w", werr)
			}
			done += int64(n)
			x.prog.Add(int64(n))
		}
		if rerr != nil && !(rerr == io.EOF && done == size) {
			if rerr == io.EOF {
				rerr = fmt.Errorf("file ends at byte %d, %d expected: %w", done, size, isofmt.ErrTruncated)
			}
			return done, rerr
		}
	}
	return done, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// setMeta restores owner (as root), mode and times of e. fd is the open
// entry or -1; chmod is false for symlinks (their mode is meaningless).
func (w *extractWorker) setMeta(dfd int, e *planEntry, fd int, perm uint32, chmod bool) {
	x := w.x
	if e.node == nil {
		if fd >= 0 {
			if err := unix.Fchmod(fd, perm); err != nil {
				x.fail(e, "chmod: %v", err)
			}
		}
		return
	}
	st := &e.node.Stat
	// Skipping a chown to the ids the entry already has saves a syscall
	// per file in the common all-root image.
	if x.asRoot && st.HasOwner && (int(st.UID) != x.euid || int(st.GID) != x.egid) {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, int(st.UID), int(st.GID))
		} else {
			err = unix.Fchownat(dfd, e.name, int(st.UID), int(st.GID), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			x.fail(e, "chown: %v", err)
		}
	}
	if chmod {
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, perm)
		} else {
			err = unix.Fchmodat(dfd, e.name, perm, 0)
		}
		if err != nil {
			x.fail(e, "chmod: %v", err)
		}
	}
	if ts, ok := timesOf(st); ok {
		var err error
		if fd >= 0 {
			err = futimens(fd, ts)
		} else {
			err = unix.UtimesNanoAt(dfd, e.name, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			x.fail(e, "setting times: %v", err)
		}
	}
}

// futimens sets the times of an open file: utimensat(fd, NULL, ...), which
// x/sys/unix does not wrap; it saves a path lookup per file.
func futimens(fd int, ts []unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// timesOf returns atime and mtime for utimensat; a missing atime takes
// the mtime (so extraction does not stamp "now" on it).
func timesOf(st *isofmt.Stat) ([]unix.Timespec, bool) {
	if st.ModTime.IsZero() {
		return nil, false
	}
	at := st.AccessTime
	if at.IsZero() {
		at = st.ModTime
	}
	return []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(st.ModTime.UnixNano())}, true
}

// link makes e a hard link to its first name, or a copy if that failed.
func (w *extractWorker) link(e *planEntry) {
	x := w.x
	first := x.plan[e.linkTo]
	if first.failed.Load() {
		e.linkTo = -1
		w.extract(e)
		return
	}
	sfd, err := w.chain.get(first.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	// The chain holds one path only: keep the source directory open
	// while the destination's chain is walked.
	sfd, err = unix.Dup(sfd)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	defer unix.Close(sfd)
	if e.parent >= 0 && x.plan[e.parent].failed.Load() {
		e.failed.Store(true)
		return
	}
	dfd, err := w.chain.get(e.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	// flags 0: linkat never follows a symlink at the source name.
	w.create(dfd, e, func() error { return unix.Linkat(sfd, first.name, dfd, e.name, 0) })
}

// finishDir sets a directory's owner, mode and times.
func (w *extractWorker) finishDir(e *planEntry) {
	x := w.x
	pfd, err := w.chain.get(e.parent)
	if err != nil {
		x.fail(e, "%v", err)
		return
	}
	fd, err := unix.Openat(pfd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		x.fail(e, "opening directory: %v", err)
		return
	}
	defer unix.Close(fd)
	if e.node == nil {
		w.setMeta(pfd, e, fd, 0o755, true)
		return
	}
	perm := uint32(e.node.Stat.Mode.Perm())
	if e.node.Stat.Mode&fs.ModeSticky != 0 {
		perm |= unix.S_ISVTX
	}
	if x.asRoot && e.node.Stat.Mode&fs.ModeSetgid != 0 {
		perm |= unix.S_ISGID
	}
	w.setMeta(pfd, e, fd, perm, true)
}

// ---- boot images ----

// bootDirName holds the El Torito boot images, as 7-Zip names it.
const bootDirName = "[BOOT]"

// planBoot adds DIR/[BOOT]/ and one file per boot entry to the plan.
func (x *extractor) planBoot() error {
	entries, err := BootImages(x.img)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	dirIdx := len(x.plan)
	x.plan = append(x.plan, &planEntry{name: bootDirName, rel: bootDirName, parent: -1, linkTo: -1})
	for _, b := range entries {
		x.plan = append(x.plan, &planEntry{name: b.name, rel: bootDirName + "/" + b.name, parent: dirIdx, linkTo: -1,
			data: b.r, dataSz: b.size})
	}
	return nil
}

type bootImage struct {
	name string
	r    io.ReaderAt
	size int64
}

// BootImages lists the El Torito boot images of img (isofmt's
// Image.BootImages), named by the catalog (boot-1-bios.img, ...).
func BootImages(img *isofmt.Image) ([]bootImage, error) {
	if img.Info().Boot == nil {
		return nil, errors.New("the image has no El Torito boot catalog")
	}
	var out []bootImage
	for _, e := range img.BootImages() {
		out = append(out, bootImage{name: e.Name, r: img.BootImage(e), size: e.Size})
	}
	return out, nil
}
