//go:build linux

package mounter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DefaultStableFor is how long a watched image's size and mtime must not
// change before it is mounted: copies, downloads and `dd` write in bursts,
// and mounting a half-written image would fail or, worse, show a
// truncated tree.
const DefaultStableFor = 500 * time.Millisecond

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
)

// IsImageName reports whether name is an image the watcher mounts.
func IsImageName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".iso" || ext == ".img") && !strings.HasPrefix(name, ".")
}

// watcher mounts the images of one directory.
type watcher struct {
	d          *Daemon
	dir, root  string
	stable     time.Duration
	inotify    *os.File // nil: polling only
	wake       chan struct{}
	mu         sync.Mutex
	files      map[string]*watched // by file name
	tooManyLog bool
}

// watched is one image in the directory.
type watched struct {
	size    int64
	mtime   time.Time
	ino     uint64
	changed time.Time // when size/mtime/inode last changed
	dm      *daemonMount
	// gone is set when the mount ended without the file going away
	// (someone ran fusermount3 -u): not remounted until the file changes.
	gone     bool
	failures int
	retryAt  time.Time
}

func newWatcher(d *Daemon, dir, root string, stable time.Duration, poll bool) (*watcher, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--watch %s: not a directory (%v)", dir, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("--mount-root: %w", err)
	}
	w := &watcher{d: d, dir: dir, root: root, stable: stable, wake: make(chan struct{}, 1), files: map[string]*watched{}}
	if poll {
		return w, nil
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MODIFY|unix.IN_CLOSE_WRITE|
			unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE|unix.IN_ATTRIB|unix.IN_DELETE_SELF)
		if err != nil {
			unix.Close(fd)
		} else {
			w.inotify = os.NewFile(uintptr(fd), "inotify")
		}
	}
	if w.inotify == nil {
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
	if w.inotify != nil {
		go w.readEvents()
		defer w.inotify.Close()
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
		if f.dm == nil && !f.gone {
			n++
		}
	}
	return n
}

// scan compares the directory with what is tracked, mounts what has
// become stable, unmounts what disappeared, and returns how long to
// sleep before the next scan is due.
func (w *watcher) scan(ctx context.Context, now time.Time) time.Duration {
	next := watchPoll
	if w.inotify == nil {
		next = watchPoll / 4
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.d.log.WithField("dir", w.dir).WithError(err).Warn("cannot read the watch directory")
		return next
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !IsImageName(name) {
			continue
		}
		st, err := os.Stat(filepath.Join(w.dir, name))
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			// An empty file is a browser's placeholder for a download
			// still being written under another name (Firefox's
			// NAME.part): not an image yet, and no failed mount to retry.
			continue
		}
		present[name] = true
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
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
			f = &watched{size: st.Size(), mtime: st.ModTime(), ino: ino, changed: now}
			w.files[name] = f
		}
		if f.size != st.Size() || !f.mtime.Equal(st.ModTime()) || f.ino != ino {
			replaced := f.ino != ino
			f.size, f.mtime, f.ino, f.changed = st.Size(), st.ModTime(), ino, now
			f.failures, f.retryAt, f.gone = 0, time.Time{}, false
			if replaced && f.dm != nil {
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
		if f.dm == nil && !f.gone {
			due = max(f.changed.Add(w.stable).Sub(now), f.retryAt.Sub(now), 0)
		}
		w.mu.Unlock()
		if f.dm == nil && !f.gone {
			if due == 0 {
				if wait := w.mount(ctx, name, f); wait > 0 {
					next = min(next, wait)
				}
			} else {
				next = min(next, due)
			}
		}
	}
	w.mu.Lock()
	var removed []*daemonMount
	for name, f := range w.files {
		if !present[name] {
			if f.dm != nil {
				removed = append(removed, f.dm)
				w.d.log.WithField("image", name).Info("image removed; unmounting")
			}
			delete(w.files, name)
		}
	}
	w.mu.Unlock()
	for _, dm := range removed {
		// Lazily: the image is gone, a busy mount must not stay visible.
		if err := w.d.unmount(dm, true); err != nil {
			w.d.log.WithError(err).Warn("unmount of a removed image failed")
		}
	}
	return max(next, 10*time.Millisecond)
}

// mount mounts one image; on failure it schedules a retry and returns
// the delay.
func (w *watcher) mount(ctx context.Context, name string, f *watched) time.Duration {
	image := filepath.Join(w.dir, name)
	mp, created, err := w.mountpoint(name)
	var dm *daemonMount
	if err == nil {
		o := w.d.opts.Template
		o.Image, o.Mountpoint = image, mp
		dm, err = w.d.addMount(ctx, o, "watch", created)
		if err != nil && created {
			os.Remove(mp)
		}
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

// retryDelay is the wait after the n-th consecutive failure: doubling
// from retryMin, capped at retryMax.
func retryDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return min(retryMin<<min(n-1, 20), retryMax)
}

// mountpoint picks root/<name without extension>, adding -2, -3… when
// another mount, file or non-empty directory already has the name.
func (w *watcher) mountpoint(name string) (string, bool, error) {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	if base == "" {
		base = name
	}
	for i := 1; i <= maxSuffix; i++ {
		cand := base
		if i > 1 {
			cand = fmt.Sprintf("%s-%d", base, i)
		}
		mp := filepath.Join(w.root, cand)
		if w.d.lookup(mp) != nil {
			continue
		}
		err := os.Mkdir(mp, 0o755)
		if err == nil {
			return mp, true, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", false, fmt.Errorf("mountpoint %s: %w", mp, err)
		}
		// An existing empty directory that nothing is mounted on is
		// reused (a previous run's, or made by the administrator).
		if ents, err := os.ReadDir(mp); err == nil && len(ents) == 0 {
			if _, mounted, _ := FindMount(mp); !mounted {
				return mp, false, nil
			}
		}
	}
	return "", false, fmt.Errorf("no free mountpoint name for %s under %s", name, w.root)
}
