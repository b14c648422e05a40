package extract

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// ErrExists is the reason an entry is refused under the Refuse policy.
var ErrExists = errors.New("already exists")

// ErrNotFound is the reason an Include that matches nothing is reported.
var ErrNotFound = errors.New("not found in the image")

// run is one extraction.
type run struct {
	ctx  context.Context
	img  *isofmt.Image
	o    Options
	sel  *selector
	plan []*entry
	root dirHandle

	// umask (when known) decides which chmod calls are needed.
	umask      fs.FileMode
	umaskKnown bool

	bytes atomic.Int64
	mu    sync.Mutex // serialises events and the counts below
	res   Result
}

func newRun(ctx context.Context, img *isofmt.Image, o Options) (*run, error) {
	sel, err := newSelector(o.Include, o.Exclude)
	if err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = min(runtime.NumCPU(), 8)
	}
	return &run{ctx: ctx, img: img, o: o, sel: sel}, nil
}

// Run extracts the entries of img that o selects into dir, which is
// created if missing (reached without following other users' symlinks).
// Nothing is written outside dir: names are checked (isofmt.CheckName,
// and the system's own rules), directories are entered without following
// symlinks and checked to be the ones created or met, entries are
// created only where nothing is (or replaced by a rename under Replace),
// existing directories are merged into and left with their own owner and
// mode, and metadata is set on open files or on objects checked to be
// the ones just created, never through a name another user could swap
// for a symlink.
//
// The work goes in phases: walk the tree into a plan (metadata only);
// create the directories (mode 0700 while they are filled); copy files
// and create the other entries with o.Workers workers, each keeping open
// the directories it writes in; make the second names of hard links;
// give the directories it made their modes and times, children first.
//
// Problems with single entries do not stop the run: each is an Event
// and is counted in the Result. Run returns an error only when it cannot
// start (a bad pattern — path.ErrBadPattern —, the image's root
// directory, ErrDestination) or when ctx is cancelled: then the files
// being written are removed, directories still get their modes, and the
// error is ctx's with Result.Interrupted set.
func Run(ctx context.Context, img *isofmt.Image, dir string, o Options) (*Result, error) {
	start := time.Now()
	x, err := plan(ctx, img, o)
	if err != nil {
		return nil, err
	}
	for _, p := range x.sel.include {
		if p.hits == 0 {
			x.failAt("", nil, fmt.Errorf("%s: %w", p.raw, ErrNotFound))
		}
	}
	if o.DryRun {
		if err := x.dryRun(dir); err != nil {
			return nil, err
		}
		x.imageProblems()
		return x.result(start), nil
	}
	root, err := openDest(dir, o.portable)
	if err != nil {
		return nil, err
	}
	defer root.close()
	x.root = root
	x.umask, x.umaskKnown = processUmask()
	if o.Progress != nil {
		o.Progress.Start(x.total())
	}
	x.makeDirs()
	links := x.copyAll()
	x.makeLinks(links)
	x.finishDirs()
	x.imageProblems()
	res := x.result(start)
	if err := ctx.Err(); err != nil {
		res.Interrupted = true
		return res, err
	}
	return res, nil
}

// plan makes the run's plan: the selected entries of the tree, then the
// boot images if asked for. The caller reports the Include patterns that
// matched nothing (Stream first tries them as paths through symlinks).
func plan(ctx context.Context, img *isofmt.Image, o Options) (*run, error) {
	x, err := newRun(ctx, img, o)
	if err != nil {
		return nil, err
	}
	if err := x.buildPlan(); err != nil {
		return nil, err
	}
	if o.Boot {
		if err := x.planBoot(); err != nil {
			x.failAt("", nil, fmt.Errorf("boot images: %w", err))
		}
	}
	return x, nil
}

// total is the number of bytes the copy will write.
func (x *run) total() int64 {
	var n int64
	for _, e := range x.plan {
		switch {
		case !e.isRegular() || e.linkTo >= 0:
		case e.ranges != nil:
			for _, r := range e.ranges {
				n += r.Length
			}
		default:
			n += e.size()
		}
	}
	return n
}

func (x *run) result(start time.Time) *Result {
	x.mu.Lock()
	res := x.res
	x.mu.Unlock()
	res.Planned = len(x.plan)
	res.Bytes = x.bytes.Load()
	res.Elapsed = time.Since(start)
	if x.o.DryRun {
		return &res
	}
	for _, e := range x.plan {
		switch e.state.Load() {
		case failed:
			res.FailedEntries++
		case done:
			switch {
			case e.isDir():
				res.Dirs++
			case e.linkTo >= 0:
				res.Links++
			case e.isRegular():
				res.Files++
			case e.node.Stat.Mode&fs.ModeSymlink != 0:
				res.Symlinks++
			default:
				res.Special++
			}
		}
	}
	return &res
}

// ---- events ----

func (x *run) event(ev Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch ev.Kind {
	case Failed:
		x.res.Failed++
	case Skipped:
		x.res.Skipped++
	case Partial:
		x.res.Partial++
	}
	if x.o.Report != nil {
		x.o.Report(ev)
	}
}

// fail reports that e could not be extracted.
func (x *run) fail(e *entry, err error) {
	e.state.Store(failed)
	x.event(Event{Kind: Failed, Path: e.rel, Sector: e.sector(), Type: e.typeLetter(), Size: e.size(), Err: err})
}

// failAt reports a problem at an image path that is not (yet) an entry
// of the plan; n may be nil.
func (x *run) failAt(p string, n *isofmt.Node, err error) {
	ev := Event{Kind: Failed, Path: p, Sector: -1, Err: err}
	if p == "." {
		ev.Path = "/"
	}
	if n != nil {
		ev.Sector, ev.Type = Sector(&n.Stat), TypeLetter(n.Stat.Mode)
	}
	x.event(ev)
}

// skip reports e left out on purpose; existing says it is because the
// name exists (the Skip policy).
func (x *run) skip(e *entry, existing bool, err error) {
	e.state.Store(skipped)
	if existing {
		x.mu.Lock()
		x.res.Existing++
		x.mu.Unlock()
	}
	x.event(Event{Kind: Skipped, Path: e.rel, Sector: e.sector(), Type: e.typeLetter(), Size: e.size(), Err: err})
}

// imageProblems reports what concerns the image as a whole.
func (x *run) imageProblems() {
	// A truncated image may have lost files that no directory read could
	// notice: that is damage even when every listed file was complete.
	if in := x.img.Info(); in.Truncated {
		x.failAt("", nil, fmt.Errorf("image truncated: the volume claims %d bytes, the image has %d (ends in sector %d); files beyond it are missing",
			in.VolumeSize, in.ImageSize, in.ImageSize/isofmt.SectorSize))
	}
	for _, w := range x.img.Warnings() {
		x.event(Event{Kind: Warning, Sector: -1, Err: errors.New(w)})
	}
}

// inherit gives e its parent's state when the parent was not created
// (already reported there) and says whether e may be created.
func (x *run) inherit(e *entry) bool {
	if e.parent < 0 {
		return true
	}
	p := x.plan[e.parent]
	if s := p.state.Load(); s != done {
		e.state.Store(s)
		x.event(Event{Kind: Unreached, Path: e.rel, Sector: e.sector(), Type: e.typeLetter(), Size: e.size(),
			Err: fmt.Errorf("its directory %s was not created", p.rel)})
		return false
	}
	return true
}

// ---- metadata policy ----

// meta decides what to set on e. perm is the mode to create it with.
func (x *run) meta(e *entry) (m meta, perm fs.FileMode) {
	mp := x.o.Metadata
	if e.node == nil {
		// Boot images and their directory.
		perm = 0o644
		if e.isDir() {
			perm = 0o755
		}
		return meta{perm: perm, chmod: e.isDir() || x.needChmod(perm)}, perm
	}
	st := &e.node.Stat
	switch {
	case mp.NoModes && st.Mode.IsDir():
		perm = 0o755 &^ x.umask
	case mp.NoModes:
		perm = 0o644
	default:
		perm = st.Mode.Perm() | st.Mode&fs.ModeSticky
		// Like tar: set-id bits only when the owner is restored too.
		if mp.Owners {
			perm |= st.Mode & fs.ModeSetgid
			if !st.Mode.IsDir() {
				perm |= st.Mode & fs.ModeSetuid
			}
		}
	}
	m.perm = perm
	switch {
	case st.Mode.IsDir():
		m.chmod = true // created 0700 to be filled
	case st.Mode&fs.ModeSymlink != 0:
	default:
		m.chmod = !mp.NoModes && x.needChmod(perm)
	}
	// The writer skips the chown when the new entry has these ids
	// already (the common all-root image), checking the entry itself: a
	// set-group-id directory (or a BSD one) gives new entries its group,
	// not the process's.
	m.owner = mp.Owners && st.HasOwner
	m.uid, m.gid = int(st.UID), int(st.GID)
	if !mp.NoTimes && !st.ModTime.IsZero() {
		m.times = true
		m.mtime = st.ModTime.UnixNano()
		m.atime = m.mtime // a missing atime takes the mtime, not "now"
		if !st.AccessTime.IsZero() {
			m.atime = st.AccessTime.UnixNano()
		}
	}
	return m, perm
}

// needChmod reports whether an entry created with perm's permission
// bits lacks some of perm: taken by the umask, or set-id and sticky bits.
func (x *run) needChmod(perm fs.FileMode) bool {
	return !x.umaskKnown || perm&^fs.ModePerm != 0 || perm&x.umask != 0
}

// ---- directory chains ----

// chain keeps open the directories of one path below DIR, so that
// consecutive entries in one directory cost no lookups.
type chain struct {
	x   *run
	idx []int // plan indexes, outermost first
	h   []dirHandle
}

// ancestors lists the plan indexes of directory idx and its parents,
// outermost first.
func (x *run) ancestors(idx int) []int {
	var a []int
	for i := idx; i >= 0; i = x.plan[i].parent {
		a = append(a, i)
	}
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
	return a
}

// get returns the open directory of plan entry idx (-1 is DIR), opening
// each component without following symlinks and checking it is the
// directory created (or merged into) earlier in this run.
func (c *chain) get(idx int) (dirHandle, error) {
	if idx < 0 {
		c.truncate(0)
		return c.x.root, nil
	}
	want := c.x.ancestors(idx)
	keep := 0
	for keep < len(want) && keep < len(c.idx) && want[keep] == c.idx[keep] {
		keep++
	}
	c.truncate(keep)
	for _, i := range want[keep:] {
		parent := c.x.root
		if len(c.h) > 0 {
			parent = c.h[len(c.h)-1]
		}
		e := c.x.plan[i]
		if e.state.Load() != done {
			return nil, fmt.Errorf("directory %s was not created", e.rel)
		}
		h, err := parent.openDir(e.dest)
		if err == nil && !sameID(h.id(), e.id) {
			h.close()
			err = errReplaced
		}
		if err != nil {
			return nil, fmt.Errorf("opening directory %s: %w", e.rel, err)
		}
		c.idx = append(c.idx, i)
		c.h = append(c.h, h)
	}
	return c.h[len(c.h)-1], nil
}

func (c *chain) truncate(n int) {
	for _, h := range c.h[n:] {
		h.close()
	}
	c.idx, c.h = c.idx[:n], c.h[:n]
}

func (c *chain) close() { c.truncate(0) }

// ---- phase 1: directories ----

// makeDirs creates the directories in plan order (parents first), by
// one goroutine, so that the copy phase finds them all. DIR and every
// directory merged into are cleared of what an interrupted run left.
func (x *run) makeDirs() {
	c := &chain{x: x}
	defer c.close()
	x.cleanStale(x.root, "")
	for _, e := range x.plan {
		if e.isDir() && x.ctx.Err() == nil && x.inherit(e) {
			x.makeDir(c, e)
		}
	}
}

// makeDir creates directory e, or merges into a real directory of that
// name; anything else there is dealt with by the overwrite policy.
func (x *run) makeDir(c *chain, e *entry) {
	pd, err := c.get(e.parent)
	if err != nil {
		x.fail(e, err)
		return
	}
	name := e.name
	err = pd.mkdir(name)
	merged := false
	if isExist(err) {
		typ, _, serr := pd.lstat(name)
		switch {
		case serr != nil:
			err = serr
		case typ == fs.ModeDir:
			err, merged = nil, true
		case x.o.Overwrite == Refuse:
			x.fail(e, fmt.Errorf("refused: %w: a %s, not a directory", ErrExists, typeName(typ)))
			return
		case x.o.Overwrite == Skip:
			x.skip(e, true, fmt.Errorf("exists as a %s; left alone with everything below", typeName(typ)))
			return
		case x.o.Overwrite == Replace:
			if err = pd.remove(name); err == nil {
				err = pd.mkdir(name)
			}
		case x.o.Overwrite == Rename:
			name, err = freeName(e.name, pd.mkdir)
		}
	}
	if err != nil {
		x.fail(e, fmt.Errorf("creating directory: %w", err))
		return
	}
	h, err := pd.openDir(name)
	if err != nil {
		x.fail(e, fmt.Errorf("opening directory: %w", err))
		return
	}
	defer h.close()
	if merged {
		x.cleanStale(h, e.rel)
	}
	// No owner check here: on file systems that map owners (vfat, NFS
	// with root_squash) what root creates is not root's. A directory
	// another user swapped in is theirs to write anyway, and nothing is
	// set on it but through its descriptor.
	e.dest, e.id, e.merged = name, h.id(), merged
	e.state.Store(done)
}

// cleanStale removes from d (at image path rel) the temporary files a
// killed run left (a SIGKILL, a crash: Replace writes each file under
// tempName and renames it when complete), each noted as a Warning. Only
// names tempName makes are looked at, and removeStale takes only a
// regular file of this user's that no live run holds locked; anything
// else is left alone, quietly.
func (x *run) cleanStale(d dirHandle, rel string) {
	names, err := d.names()
	if err != nil {
		return
	}
	for _, n := range names {
		if !isTempName(n) {
			continue
		}
		if ok, err := d.removeStale(n); ok {
			p := path.Join(rel, n)
			if err != nil {
				x.event(Event{Kind: Warning, Path: p, Sector: -1, Err: fmt.Errorf("%s, left by an interrupted run: %w", p, err)})
			} else {
				x.event(Event{Kind: Warning, Path: p, Sector: -1, Err: fmt.Errorf("removed %s, left by an interrupted run", p)})
			}
		}
	}
}

// freeName creates an entry under the first free name_N through mk.
func freeName(name string, mk func(string) error) (string, error) {
	for i := 1; i <= maxRename; i++ {
		n := renamed(name, i)
		err := mk(n)
		if err == nil {
			return n, nil
		}
		if !isExist(err) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name from %s to %s", renamed(name, 1), renamed(name, maxRename))
}

// ---- phase 4: directory metadata ----

// finishDirs gives the directories Run created their owner, mode and
// times, children before parents: filling a directory changes its mtime,
// and a read-only mode would stop the filling. It runs after an
// interruption too, so that no directory is left at 0700. A directory
// that existed and was merged into is left as it is (as GNU tar's
// --no-overwrite-dir does): it is not Run's, and may be another user's,
// who would otherwise get the image's mode on it, or lose it to the
// image's owner.
func (x *run) finishDirs() {
	c := &chain{x: x}
	defer c.close()
	for i := len(x.plan) - 1; i >= 0; i-- {
		e := x.plan[i]
		if !e.isDir() || e.state.Load() != done || e.merged {
			continue
		}
		pd, err := c.get(e.parent)
		if err != nil {
			x.fail(e, err)
			continue
		}
		h, err := pd.openDir(e.dest)
		if err == nil && !sameID(h.id(), e.id) {
			h.close()
			err = errReplaced
		}
		if err != nil {
			x.fail(e, fmt.Errorf("opening directory: %w", err))
			continue
		}
		m, _ := x.meta(e)
		if err := h.setDirMeta(m); err != nil {
			x.fail(e, err)
		}
		h.close()
	}
}
