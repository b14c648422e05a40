//go:build unix

package mounter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Watch-directory timing.
const (
	// watchPoll is the safety rescan interval with inotify (its queue
	// can overflow); without inotify the directory is scanned four
	// times as often.
	watchPoll = 2 * time.Second
	// retryMin and retryMax bound the backoff after a failed mount.
	retryMin = time.Second
	retryMax = 5 * time.Minute
	// maxWatched caps the images tracked in one directory.
	maxWatched = 4096
	// maxSuffix caps the collision suffixes tried for a mountpoint name.
	maxSuffix = 1000
	// mountWorkers bounds the images mounted at once.
	mountWorkers = 16
)

// watcher mounts the images of one directory.
//
// Trust model: the directory's owner chooses what is mounted, and
// nobody else may steer the daemon (which usually runs as root) through
// it. So the directory and --mount-root are opened once, as the
// administrator named them, and everything below them is reached by
// descriptor without following a symlink: an image is a regular file
// right in the directory (not a symlink, which could name a file its
// creator cannot read), owned by the directory's owner and readable by
// them; a file with several hard links is refused where others may
// write into the directory (a link can be made to a file one cannot
// read); mountpoints are created in, or reused from, the mount root
// without following a symlink, and the mount lands on the directory
// that was checked (see mountKernel).
type watcher struct {
	d          *Daemon
	dir, root  string
	dirFD      *os.File // the watch directory
	rootFD     *os.File // the mount root (O_PATH)
	owner      uint32   // the watch directory's owner
	shared     bool     // others than the owner may write into it
	stable     time.Duration
	inotify    *os.File // nil: polling only
	wake       chan struct{}
	mu         sync.Mutex
	files      map[string]*watched // by file name
	tooManyLog bool
	// list is the URL list, if the daemon follows one.
	list *urlList
	// claimed holds the mountpoint names picked for mounts being made,
	// so that images mounted at the same time never pick the same one.
	claimMu sync.Mutex
	claimed map[string]bool
}

// watched is one image in the directory.
type watched struct {
	size    int64
	mtime   time.Time
	ino     uint64
	uid     uint32
	mode    uint32
	changed time.Time // when any of the above last changed
	dm      *daemonMount
	// gone is set when the mount ended without the file going away
	// (someone ran fusermount3 -u): not remounted until the file changes.
	gone bool
	// refused holds why the image may not be mounted (owner, mode,
	// links): logged once, not retried until the file changes.
	refused  string
	failures int
	retryAt  time.Time
}

func newWatcher(d *Daemon, dir, root string, stable time.Duration, poll bool) (*watcher, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		// A URL list alone.
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("--mount-root: %w", err)
		}
		rfd, err := openDirPath(root)
		if err != nil {
			return nil, fmt.Errorf("--mount-root %s: %w", root, err)
		}
		w := &watcher{d: d, root: root, rootFD: os.NewFile(uintptr(rfd), root), owner: uint32(os.Geteuid()),
			stable: stable, wake: make(chan struct{}, 1), files: map[string]*watched{}}
		w.addList()
		return w, nil
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dirFD, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("--watch %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(dirFD.Fd()), &st); err != nil {
		dirFD.Close()
		return nil, fmt.Errorf("--watch %s: %w", dir, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		dirFD.Close()
		return nil, fmt.Errorf("--mount-root: %w", err)
	}
	rfd, err := openDirPath(root)
	if err != nil {
		dirFD.Close()
		return nil, fmt.Errorf("--mount-root %s: %w", root, err)
	}
	w := &watcher{d: d, dir: dir, root: root, dirFD: dirFD, rootFD: os.NewFile(uintptr(rfd), root),
		owner: st.Uid, shared: uint32(st.Mode)&0o022 != 0, stable: stable, wake: make(chan struct{}, 1), files: map[string]*watched{}}
	w.addList()
	if poll {
		return w, nil
	}
	w.inotify, err = notifier(dir)
	if err != nil && !errors.Is(err, errPollOnly) {
		d.log.WithField("dir", dir).WithError(err).Warn("inotify unavailable; polling the watch directory")
	}
	return w, nil
}

// initial mounts the images present at start once they prove stable.
func (w *watcher) initial(ctx context.Context) {
	w.scan(ctx, time.Now())
	if w.pending() == 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(w.stable):
	}
	w.scan(ctx, time.Now())
}

// run watches until ctx ends.
func (w *watcher) run(ctx context.Context) {
	if w.dirFD != nil {
		defer w.dirFD.Close()
	}
	defer w.rootFD.Close()
	if w.inotify != nil {
		go w.readEvents()
		defer w.inotify.Close()
	}
	if w.list != nil && w.list.remote {
		// run itself is one of d.wg's goroutines, so the count is above
		// zero here and shutdown waits for this one too.
		w.d.wg.Add(1)
		go func() { defer w.d.wg.Done(); w.fetchLoop(ctx) }()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		next := w.scan(ctx, time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// readEvents turns inotify events into wake-ups; the scan finds out what
// changed, so overflow or coalescing loses nothing.
func (w *watcher) readEvents() {
	buf := make([]byte, 16<<10)
	for {
		_, err := w.inotify.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.d.log.WithError(err).Warn("inotify read failed; polling the watch directory")
			}
			return
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// pending counts images not (yet) mounted.
func (w *watcher) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, f := range w.files {
		if f.dm == nil && !f.gone && f.refused == "" {
			n++
		}
	}
	if w.list != nil {
		for _, f := range w.list.urls {
			if f.dm == nil && !f.gone {
				n++
			}
		}
	}
	return n
}

// addList sets up the URL list the daemon's options name, if any.
func (w *watcher) addList() {
	if src := w.d.opts.URLList; src != "" {
		w.list = newURLList(src, isImageURL(src) || strings.Contains(src, "://"), w.d.opts.URLListEvery)
	}
}

// scan compares the directory (and the URL list) with what is tracked,
// mounts what has become stable, unmounts what disappeared, and returns
// how long to sleep before the next scan is due.
func (w *watcher) scan(ctx context.Context, now time.Time) time.Duration {
	next := watchPoll
	if w.inotify == nil {
		next = watchPoll / 4
	}
	var toMount []dueImage
	if w.dirFD != nil {
		toMount = w.scanDir(now, &next)
	}
	if w.list != nil {
		toMount = append(toMount, w.scanList(now, &next)...)
	}
	// Mounting one image waits on the kernel and its server more than it
	// works; a folder of a thousand is mounted mountWorkers at a time.
	var nextMu sync.Mutex
	parallel(len(toMount), mountWorkers, func(i int) {
		var wait time.Duration
		if toMount[i].url != "" {
			wait = w.mountURL(ctx, toMount[i].url, toMount[i].f)
		} else {
			wait = w.mount(ctx, toMount[i].name, toMount[i].f)
		}
		if wait > 0 {
			nextMu.Lock()
			next = min(next, wait)
			nextMu.Unlock()
		}
	})
	return max(next, 10*time.Millisecond)
}

// scanDir compares the watch directory with what is tracked, unmounts
// what disappeared, and returns the images due for mounting; next is
// lowered to when the next one will be.
func (w *watcher) scanDir(now time.Time, next *time.Duration) []dueImage {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.d.log.WithField("dir", w.dir).WithError(err).Warn("cannot read the watch directory")
		return nil
	}
	present := map[string]bool{}
	var toMount []dueImage
	for _, e := range entries {
		name := e.Name()
		if !IsImageName(name) {
			continue
		}
		// Never follow a symlink: it could name a file the directory's
		// owner cannot read.
		var st unix.Stat_t
		if err := unix.Fstatat(int(w.dirFD.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size == 0 {
			if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				w.refuseOnce(name, "it is a symbolic link")
			}
			// An empty file is a browser's placeholder for a download
			// still being written under another name (Firefox's
			// NAME.part): not an image yet, and no failed mount to retry.
			continue
		}
		present[name] = true
		size, mtime, ino, mode := st.Size, time.Unix(st.Mtim.Unix()), st.Ino, uint32(st.Mode)
		w.mu.Lock()
		f := w.files[name]
		if f == nil {
			if len(w.files) >= maxWatched {
				if !w.tooManyLog {
					w.d.log.WithField("dir", w.dir).Warnf("more than %d images; ignoring the rest", maxWatched)
					w.tooManyLog = true
				}
				w.mu.Unlock()
				continue
			}
			f = &watched{size: size, mtime: mtime, ino: ino, uid: st.Uid, mode: mode, changed: now}
			f.refused = w.refusal(&st)
			w.files[name] = f
			if f.refused != "" {
				w.logRefusal(name, f.refused)
			}
		}
		if f.size != size || !f.mtime.Equal(mtime) || f.ino != ino || f.uid != st.Uid || f.mode != mode {
			replaced := f.ino != ino
			f.size, f.mtime, f.ino, f.uid, f.mode, f.changed = size, mtime, ino, st.Uid, mode, now
			f.failures, f.retryAt, f.gone = 0, time.Time{}, false
			if why := w.refusal(&st); why != f.refused {
				f.refused = why
				if why != "" {
					w.logRefusal(name, why)
				}
			}
			if (replaced || f.refused != "") && f.dm != nil {
				dm := f.dm
				f.dm = nil
				w.mu.Unlock()
				w.d.log.WithField("image", name).Info("image replaced; remounting once it is stable")
				w.d.unmount(dm, true)
				w.mu.Lock()
			}
		}
		if f.dm != nil {
			select {
			case <-f.dm.done:
				w.d.log.WithField("image", name).Info("unmounted from outside; not remounting until the image changes")
				f.dm, f.gone = nil, true
			default:
			}
		}
		due := time.Duration(0)
		wanted := f.dm == nil && !f.gone && f.refused == ""
		if wanted {
			due = max(f.changed.Add(w.stable).Sub(now), f.retryAt.Sub(now), 0)
		}
		w.mu.Unlock()
		if wanted {
			if due == 0 {
				toMount = append(toMount, dueImage{name: name, f: f})
			} else {
				*next = min(*next, due)
			}
		}
	}
	w.dropAbsent(w.files, present, "image")
	return toMount
}

// dropAbsent forgets the entries (the folder's images, or the list's
// URLs: what) that are no longer present, and unmounts their
// mounts. Lazily: the image is gone, and a busy mount must not stay
// visible.
func (w *watcher) dropAbsent(entries map[string]*watched, present map[string]bool, what string) {
	w.mu.Lock()
	var removed []*daemonMount
	for name, f := range entries {
		if !present[name] {
			if f.dm != nil {
				removed = append(removed, f.dm)
				w.d.log.WithField("image", name).Infof("%s removed; unmounting", what)
			}
			delete(entries, name)
		}
	}
	w.mu.Unlock()
	for _, dm := range removed {
		if err := w.d.unmount(dm, true); err != nil {
			w.d.log.WithError(err).Warnf("unmount of a removed %s failed", what)
		}
	}
}

// refusal says why an image with these attributes may not be mounted,
// or "" (see watcher for the trust model).
func (w *watcher) refusal(st *unix.Stat_t) string {
	switch {
	case st.Uid != w.owner:
		return fmt.Sprintf("it belongs to uid %d, not to uid %d who owns the watch directory", st.Uid, w.owner)
	case st.Mode&unix.S_IRUSR == 0:
		return "its owner may not read it"
	case w.shared && st.Nlink > 1:
		return fmt.Sprintf("it has %d hard links and others may write into the watch directory", st.Nlink)
	}
	return ""
}

// logRefusal says once why name is not mounted.
func (w *watcher) logRefusal(name, why string) {
	w.d.log.WithFields(logrus.Fields{"image": filepath.Join(w.dir, name)}).Warnf("watched image refused: %s", why)
}

// refuseOnce logs a refusal of something that is not tracked (a
// symlink), once per name.
func (w *watcher) refuseOnce(name, why string) {
	w.mu.Lock()
	f := w.files[name]
	if f == nil && len(w.files) < maxWatched {
		w.files[name] = &watched{refused: why}
	}
	w.mu.Unlock()
	if f == nil {
		w.logRefusal(name, why)
	}
}

// openImage opens name in the watch directory without following a
// symlink and checks the file it got, not the name.
func (w *watcher) openImage(name string) (*os.File, error) {
	fd, err := unix.Openat(int(w.dirFD.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrImage, name, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(w.dir, name))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrImage, name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrImage, name)
	}
	if why := w.refusal(&st); why != "" {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrImage, name, why)
	}
	return f, nil
}

// mount mounts one image; on failure it schedules a retry and returns
// the delay.
func (w *watcher) mount(ctx context.Context, name string, f *watched) time.Duration {
	image := filepath.Join(w.dir, name)
	img, err := w.openImage(name)
	var dm *daemonMount
	if err == nil {
		var dir *os.File
		var mp string
		var created bool
		dir, mp, created, err = w.mountpoint(name)
		if err == nil {
			defer w.release(filepath.Base(mp))
			o := w.d.opts.Template
			o.Image, o.ImageFile, o.Mountpoint, o.MountpointDir = image, img, mp, dir
			dm, err = w.d.addMount(ctx, o, "watch", created)
			dir.Close()
			if err != nil && created {
				unix.Unlinkat(int(w.rootFD.Fd()), filepath.Base(mp), unix.AT_REMOVEDIR)
			}
		}
		img.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		f.failures++
		delay := retryDelay(f.failures)
		f.retryAt = time.Now().Add(delay)
		w.d.log.WithFields(logrus.Fields{"image": image, "attempt": f.failures, "retry_in": delay}).WithError(err).Warn("watched image not mounted")
		return delay
	}
	f.dm, f.failures = dm, 0
	return 0
}

// dueImage is an image a scan found due for mounting: a file of the
// watch directory, or a URL of the list.
type dueImage struct {
	name, url string
	f         *watched
}

// retryDelay is the wait after the n-th consecutive failure: doubling
// from retryMin, capped at retryMax.
func retryDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return min(retryMin<<min(n-1, 20), retryMax)
}

// mountpoint picks root/<name without extension>, adding -2, -3… when
// another mount, a file, a symlink or a non-empty directory already has
// the name. It returns the directory opened (O_PATH) without following
// a symlink, its path, and whether it was created here.
func (w *watcher) mountpoint(name string) (*os.File, string, bool, error) {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	if base == "" {
		base = name
	}
	rootfd := int(w.rootFD.Fd())
	for i := 1; i <= maxSuffix; i++ {
		cand := base
		if i > 1 {
			cand = fmt.Sprintf("%s-%d", base, i)
		}
		mp := filepath.Join(w.root, cand)
		if w.d.lookup(mp) != nil || !w.claim(cand) {
			continue
		}
		err := unix.Mkdirat(rootfd, cand, 0o755)
		created := err == nil
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, "", false, fmt.Errorf("mountpoint %s: %w", mp, err)
		}
		fd, err := openBeneath(rootfd, cand)
		if err != nil {
			// A symlink or a file in the way: not ours to use.
			if created {
				unix.Unlinkat(rootfd, cand, unix.AT_REMOVEDIR)
			}
			w.release(cand)
			continue
		}
		dir := os.NewFile(uintptr(fd), mp)
		if created {
			return dir, mp, true, nil
		}
		// An existing empty directory that nothing is mounted on is
		// reused (a previous run's, or made by the administrator).
		if reusableMountpoint(dir, mp) {
			return dir, mp, false, nil
		}
		dir.Close()
		w.release(cand)
	}
	return nil, "", false, fmt.Errorf("no free mountpoint name for %s under %s", name, w.root)
}

// claim reserves the mountpoint name cand for a mount being made; false
// if another one has it.
func (w *watcher) claim(cand string) bool {
	w.claimMu.Lock()
	defer w.claimMu.Unlock()
	if w.claimed[cand] {
		return false
	}
	if w.claimed == nil {
		w.claimed = map[string]bool{}
	}
	w.claimed[cand] = true
	return true
}

// release ends a claim: the mount is in the daemon's table (or failed).
func (w *watcher) release(cand string) {
	w.claimMu.Lock()
	delete(w.claimed, cand)
	w.claimMu.Unlock()
}
