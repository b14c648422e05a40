//go:build linux

package gofuse

import (
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/isofsd/isofsd/isofmt"
)

// Directory read-ahead. Reading a tree of small files (tar, cp -r,
// rsync, grep -r) costs one FUSE round trip per file: the reader blocks,
// a daemon thread wakes, replies, the reader wakes. On the 2-core VM of
// the benchmark that is ~65 µs per file, 6.7 s of a 100 000-file tar,
// nearly all of it scheduling. When a small file is read from its start,
// the files after it in the same directory are likely next, so a
// background goroutine reads them from the image and stores them in the
// kernel's page cache with FUSE_NOTIFY_STORE: their reads then never
// leave the kernel (the tar took 1.6 s).
//
// Like the kernel's own read-ahead the window starts small and doubles
// while the reads stay sequential (raMinFiles up to raMaxFiles files,
// at most raWindowBytes per trigger), also from one directory to the
// start of the next as a tree walk goes; a read elsewhere starts over. Only
// files of at most raMaxFile bytes that the kernel holds an inode for
// are stored (it answers ENOENT for others, which is harmless), the
// queue is bounded and a full queue drops the trigger. Stored pages are
// ordinary clean page cache: the kernel reclaims them under memory
// pressure, and a later read then asks the daemon as usual.
const (
	// raMaxFile is the largest file read-ahead stores, and the largest
	// whose read triggers it.
	raMaxFile = 128 << 10
	// raMinFiles and raMaxFiles bound the window in files.
	raMinFiles = 16
	raMaxFiles = 256
	// raWindowBytes bounds the bytes stored per trigger.
	raWindowBytes = 1 << 20
	// raQueue bounds the triggers waiting for the goroutine.
	raQueue = 16
)

type raJob struct {
	dir      *known
	from, to int // entries [from, to) of dir
}

// dirReadAhead is the background goroutine of one mount.
type dirReadAhead struct {
	r    *raw
	srv  *fuse.Server
	jobs chan raJob
	done chan struct{}
	once sync.Once
	w    worker

	mu      sync.Mutex
	lastDir *known // the directory of the last trigger
	lastEnd int    // the end of the last window queued there
	win     int    // the size of that window, in files

	// stored counts the files stored; pending the triggers queued or in
	// hand (for tests and stats).
	stored  atomic.Int64
	pending atomic.Int64
}

func newDirReadAhead(r *raw, srv *fuse.Server) *dirReadAhead {
	return &dirReadAhead{r: r, srv: srv, jobs: make(chan raJob, raQueue), done: make(chan struct{})}
}

func (d *dirReadAhead) stop() { d.once.Do(func() { close(d.done) }) }

// noteRead is called for every read from offset 0 of a file of at most
// raMaxFile bytes, node k.
func (d *dirReadAhead) noteRead(k *known) {
	d.r.mu.RLock() // a lookup may set parent and idx
	parent, idx := k.parent, int(k.idx)
	d.r.mu.RUnlock()
	if parent == nil {
		return
	}
	d.mu.Lock()
	var j raJob
	switch {
	case parent == d.lastDir && idx < d.lastEnd && idx >= d.lastEnd-d.win:
		// Inside the window queued last: its files are on their way
		// (this read overtook the goroutine).
		d.mu.Unlock()
		return
	case parent == d.lastDir && idx == d.lastEnd:
		// The first file past the window: the reads are sequential.
		d.win = min(2*d.win, raMaxFiles)
	case parent != d.lastDir && idx < raMinFiles && d.win > 0:
		// The start of another directory: a tree walk goes on, keep
		// the window.
	default:
		d.win = raMinFiles
	}
	j = raJob{dir: parent, from: idx + 1, to: idx + 1 + d.win}
	d.lastDir, d.lastEnd = parent, j.to
	d.mu.Unlock()
	d.pending.Add(1)
	select {
	case d.jobs <- j:
		d.w.kick(d.drain)
	default:
		d.pending.Add(-1)
	}
}

// drain is the read-ahead goroutine: it runs while triggers are queued
// and ends when the queue is empty, so an idle mount holds neither it
// nor its buffer.
func (d *dirReadAhead) drain() {
	buf := make([]byte, raMaxFile)
	for {
		select {
		case <-d.done:
			d.w.exit()
			return
		case j := <-d.jobs:
			d.push(j, buf)
			d.pending.Add(-1)
		default:
			if !d.w.idle(func() bool { return len(d.jobs) > 0 }) {
				return
			}
		}
	}
}

// push stores the small files among entries [j.from, j.to) of j.dir.
func (d *dirReadAhead) push(j raJob, buf []byte) {
	a := j.dir.aux.Load()
	if a == nil {
		return
	}
	list := a.list
	bytes := 0
	for i := j.from; i < min(j.to, len(list)) && bytes < raWindowBytes; i++ {
		n := list[i]
		st := &n.Stat
		if !st.Mode.IsRegular() || st.Size <= 0 || st.Size > raMaxFile {
			continue
		}
		select {
		case <-d.done:
			return
		default:
		}
		id := d.r.nodeID(n)
		_, h, errno := d.r.handle(id)
		if errno != 0 {
			continue // the kernel has forgotten it
		}
		size := int(st.Size)
		got, errno := h.ReadAt(buf[:size], 0)
		if errno != 0 || got != size {
			continue // a read of the file will meet and report the error
		}
		if d.srv.InodeNotifyStoreCache(id, 0, buf[:size]) != fuse.OK {
			continue
		}
		bytes += size
		d.stored.Add(1)
	}
}

// Listing read-ahead. A tree walk (find, ls -R, du, tar, a file manager
// opening folders) lists one directory after another, and the first
// READDIR of each waits while the daemon parses the directory from the
// image: a third of the daemon's time in a `find` over 100 000 entries.
// When a directory is listed from its start, the directories a walk is
// likely to enter next — its first subdirectories, and the directories
// after it in its parent — are parsed meanwhile by a background goroutine
// (on the core the walker is not using) into the image's directory cache,
// where the READDIR finds them; one that arrives during the parse waits
// for it rather than parsing again. At most plDirs of each are queued per
// listing, none bigger than plMaxDir, the queue is bounded and a full
// queue drops the rest.
const (
	// plDirs is how many subdirectories, and how many following
	// sibling directories, one listing queues.
	plDirs = 4
	// plQueue bounds the directories waiting for the goroutine.
	plQueue = 64
	// plMaxDir is the largest directory (in recorded bytes: ~10 000
	// entries) parsed ahead; bigger ones are parsed when listed, so
	// that a walk never spends time and memory on a huge directory it
	// does not enter.
	plMaxDir = 1 << 20
)

// dirPreload is the listing read-ahead goroutine of one mount.
type dirPreload struct {
	r    *raw
	jobs chan *isofmt.Node
	done chan struct{}
	once sync.Once
	w    worker

	// queued counts the directories handed to the goroutine, pending
	// those queued or in hand (for tests).
	queued, pending atomic.Int64
}

func newDirPreload(r *raw) *dirPreload {
	return &dirPreload{r: r, jobs: make(chan *isofmt.Node, plQueue), done: make(chan struct{})}
}

func (p *dirPreload) stop() { p.once.Do(func() { close(p.done) }) }

// noteList is called when directory k, whose entries are list, is listed
// from its start.
func (p *dirPreload) noteList(k *known, list []*isofmt.Node) {
	p.queueDirs(list, 0)
	p.r.mu.RLock() // a lookup may set parent and idx
	parent, idx := k.parent, int(k.idx)
	p.r.mu.RUnlock()
	if parent == nil {
		return
	}
	if a := parent.aux.Load(); a != nil {
		p.queueDirs(a.list, idx+1)
	}
}

// queueDirs queues the first plDirs directories of list[from:].
func (p *dirPreload) queueDirs(list []*isofmt.Node, from int) {
	n := 0
	for i := from; i < len(list) && n < plDirs; i++ {
		if !list[i].IsDir() || list[i].Stat.Size > plMaxDir {
			continue
		}
		n++
		p.pending.Add(1)
		select {
		case p.jobs <- list[i]:
			p.queued.Add(1)
			p.w.kick(p.drain)
		default:
			p.pending.Add(-1)
			return
		}
	}
}

// drain is the listing read-ahead goroutine, running while directories
// are queued.
func (p *dirPreload) drain() {
	for {
		select {
		case <-p.done:
			p.w.exit()
			return
		case n := <-p.jobs:
			p.r.t.Preload(n)
			p.pending.Add(-1)
		default:
			if !p.w.idle(func() bool { return len(p.jobs) > 0 }) {
				return
			}
		}
	}
}

// worker runs a mount's background goroutine only while it has work: a
// thousand idle mounts then hold no goroutines, stacks or buffers for
// it. Until start, kick does nothing (unit tests read the queue
// themselves).
type worker struct {
	on      atomic.Bool
	running atomic.Bool
}

func (w *worker) start() { w.on.Store(true) }

// kick starts run unless a goroutine is already draining the queue.
func (w *worker) kick(run func()) {
	if w.on.Load() && w.running.CompareAndSwap(false, true) {
		go run()
	}
}

// idle is called by the goroutine when the queue looked empty: it
// returns false (the goroutine ends) unless work arrived meanwhile and
// no other goroutine took it on.
func (w *worker) idle(more func() bool) bool {
	w.running.Store(false)
	// A job queued after the queue looked empty and before running was
	// cleared found running set and started no goroutine: look again.
	return more() && w.running.CompareAndSwap(false, true)
}

func (w *worker) exit() { w.running.Store(false) }
