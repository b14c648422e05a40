//go:build unix

package mounter

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt"
)

// The URL list: a file (or a URL of one) naming remote images, one
// http://, https:// or s3:// URL a line, '#' starting a comment. Each is
// mounted below the mount root, named after the URL's file name, and
// unmounted when its line goes. A local list is re-read when it changes,
// a remote one every DefaultURLListEvery.
const (
	// maxURLList bounds the list's size.
	maxURLList = 4 << 20
)

// urlList follows the list.
type urlList struct {
	src     string // path or URL
	remote  bool
	every   time.Duration
	size    int64 // a local list's size and mtime last read
	mtime   time.Time
	urls    map[string]*watched // by URL
	badOnce map[string]bool     // lines already reported
	// fetched is a remote list's latest fetch, not yet taken by a scan
	// (see fetchLoop).
	fetchMu sync.Mutex
	fetched *listFetch
}

// listFetch is one fetch of a remote list: its bytes, or why not.
type listFetch struct {
	b   []byte
	err error
}

func newURLList(src string, remote bool, every time.Duration) *urlList {
	if every <= 0 {
		every = DefaultURLListEvery
	}
	return &urlList{src: src, remote: remote, every: every, urls: map[string]*watched{}, badOnce: map[string]bool{}}
}

// fetchLoop fetches a remote list now and every l.every after, in a
// goroutine of its own, and hands each result to the watcher loop,
// which it wakes. A list server that accepts and never answers holds a
// fetch for the stall timeout (a minute): were the fetch made in the
// loop, the watch folder would go unserved meanwhile, and READY would
// wait for it.
func (w *watcher) fetchLoop(ctx context.Context) {
	l := w.list
	for {
		start := time.Now()
		var r listFetch
		if w.d.opts.FetchList == nil {
			r.err = fmt.Errorf("no way to fetch %s", l.src)
		} else {
			r.b, r.err = w.d.opts.FetchList(ctx, l.src)
		}
		if ctx.Err() != nil {
			return
		}
		l.fetchMu.Lock()
		l.fetched = &r
		l.fetchMu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(l.every-time.Since(start), 0)):
		}
	}
}

// readList returns the list's bytes when there is something new to
// look at: a remote list's latest fetch, a local list that changed.
// fresh is false when there is nothing new.
func (w *watcher) readList() (b []byte, fresh bool, err error) {
	l := w.list
	if l.remote {
		l.fetchMu.Lock()
		r := l.fetched
		l.fetched = nil
		l.fetchMu.Unlock()
		if r == nil {
			return nil, false, nil
		}
		return r.b, r.err == nil, r.err
	}
	// A local list must be the administrator's: owned by root or by us,
	// writable by nobody else, and not a symlink — whoever may write it
	// chooses what the daemon fetches and mounts.
	f, err := os.OpenFile(l.src, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, false, err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, false, fmt.Errorf("not a regular file")
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return nil, false, fmt.Errorf("it belongs to uid %d, neither root nor the daemon's user", st.Uid)
	case st.Mode&0o022 != 0:
		return nil, false, fmt.Errorf("others may write it (mode %o)", st.Mode&0o777)
	}
	mtime := time.Unix(st.Mtim.Unix())
	if st.Size == l.size && mtime.Equal(l.mtime) {
		return nil, false, nil
	}
	b, err = io.ReadAll(io.LimitReader(f, maxURLList+1))
	if err != nil {
		return nil, false, err
	}
	if len(b) > maxURLList {
		return nil, false, fmt.Errorf("larger than %d bytes", maxURLList)
	}
	l.size, l.mtime = st.Size, mtime
	return b, true, nil
}

// scanList takes in the list when there is something new (see
// readList), unmounts the images whose lines went, and returns those
// due for mounting.
func (w *watcher) scanList(now time.Time, next *time.Duration) []dueImage {
	l := w.list
	b, fresh, err := w.readList()
	if err != nil {
		w.d.log.WithField("list", l.src).WithError(err).Warn("cannot read the URL list; keeping its mounts as they are")
		l.size = -1 // read again next time
	}
	if fresh {
		urls, bad := ParseURLList(b)
		for _, msg := range bad {
			if !l.badOnce[msg] {
				l.badOnce[msg] = true
				w.d.log.WithField("list", l.src).Warn(msg)
			}
		}
		present := map[string]bool{}
		for _, u := range urls {
			present[u] = true
		}
		w.mu.Lock()
		for _, u := range urls {
			if l.urls[u] == nil {
				l.urls[u] = &watched{changed: now}
			}
		}
		w.mu.Unlock()
		w.dropAbsent(l.urls, present, "URL")
	}
	var toMount []dueImage
	w.mu.Lock()
	defer w.mu.Unlock()
	for u, f := range l.urls {
		if f.dm != nil {
			select {
			case <-f.dm.done:
				w.d.log.WithField("image", u).Info("unmounted from outside; not remounting until the list changes")
				f.dm, f.gone = nil, true
			default:
			}
		}
		if f.dm != nil || f.gone {
			continue
		}
		if due := max(f.retryAt.Sub(now), 0); due > 0 {
			*next = min(*next, due)
			continue
		}
		toMount = append(toMount, dueImage{url: u, f: f})
	}
	return toMount
}

// mountURL mounts one image of the list; on failure it schedules a
// retry and returns the delay.
func (w *watcher) mountURL(ctx context.Context, u string, f *watched) time.Duration {
	var dm *daemonMount
	var err error
	if w.d.opts.OpenRemote == nil {
		err = fmt.Errorf("%w: this daemon cannot open remote images", ErrImage)
	} else {
		var dir *os.File
		var mp string
		var created bool
		dir, mp, created, err = w.mountpoint(URLName(u))
		if err == nil {
			defer w.release(path.Base(mp))
			o := w.d.opts.Template
			o.Image, o.Mountpoint, o.MountpointDir = u, mp, dir
			o.OpenImage = func(io *isofmt.Options) (*isofmt.Image, func() error, error) {
				return w.d.opts.OpenRemote(ctx, u, io)
			}
			dm, err = w.d.addMount(ctx, o, "url-list", created)
			dir.Close()
			if err != nil && created {
				unix.Unlinkat(int(w.rootFD.Fd()), path.Base(mp), unix.AT_REMOVEDIR)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		f.failures++
		delay := retryDelay(f.failures)
		f.retryAt = time.Now().Add(delay)
		w.d.log.WithFields(logrus.Fields{"image": u, "attempt": f.failures, "retry_in": delay}).WithError(err).Warn("listed image not mounted")
		return delay
	}
	f.dm, f.failures = dm, 0
	return 0
}
