package mounter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// connIdleTimeout drops a client that sends nothing for this long, so a
// stuck or malicious peer cannot pin a goroutine forever.
const connIdleTimeout = 2 * time.Minute

// shutdownWait bounds how long shutdown waits for lazily detached mounts
// whose files are still open.
const shutdownWait = 10 * time.Second

// shutdownWorkers bounds the unmounts made at once when the daemon
// stops.
const shutdownWorkers = 16

// parallel runs f(0) … f(n-1) with at most workers at a time and
// returns once all are done.
func parallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// maxConns caps simultaneous control connections.
const maxConns = 64

// DaemonOptions configure the long-running daemon.
type DaemonOptions struct {
	// Socket is the control socket path ("" → DefaultSocket()).
	Socket string
	// Watch, when set, is a directory whose *.iso and *.img files are
	// mounted below MountRoot.
	Watch, MountRoot string
	// StableFor is how long a watched file's size and mtime must stay
	// unchanged before it is mounted (0 → DefaultStableFor).
	StableFor time.Duration
	// Poll scans the watch directory periodically instead of using
	// inotify, which misses changes made on another host to a network
	// file system (NFS, SMB).
	Poll bool
	// Template holds the per-mount settings (tree, cache, owner,
	// options) for watched images; Image, Mountpoint and Log are
	// filled in per mount.
	Template Options
	// Log receives everything; the daemon never writes elsewhere.
	Log logrus.FieldLogger
	// Notify reports service state to the supervisor ("READY=1",
	// "STOPPING=1", "WATCHDOG=1"); nil → systemd's NOTIFY_SOCKET.
	Notify func(state string)
	// OnReady, if set, is called once the socket listens and the watch
	// directory's images present at start are mounted (a parent waiting
	// for a detached daemon, the Windows service manager).
	OnReady func()
	// URLList, when set, is a file (or an http(s):// or s3:// URL of
	// one) listing remote images to mount below MountRoot, one URL a
	// line; URLListEvery is how often a listed list is fetched again
	// (0: DefaultURLListEvery).
	URLList      string
	URLListEvery time.Duration
	// FetchList reads a list that is a URL; OpenRemote opens a listed
	// image (with the daemon's own credentials and settings). Both come
	// from the caller, which knows the remote protocols.
	FetchList  func(ctx context.Context, url string) ([]byte, error)
	OpenRemote func(ctx context.Context, url string, o *isofmt.Options) (*isofmt.Image, func() error, error)
}

// Daemon serves many mounts and a control socket.
type Daemon struct {
	opts      DaemonOptions
	log       logrus.FieldLogger
	socket    string
	statePath string
	ln        *net.UnixListener
	lock      *os.File
	started   time.Time

	mu       sync.Mutex
	mounts   map[string]*daemonMount // by mountpoint
	stopping bool
	conns    map[net.Conn]bool
	watcher  *watcher

	// table is the mount table its mounts are confirmed in.
	table mountTable

	// The state file is written by one goroutine at a time, for every
	// change up to stateWant (see saveState).
	stateMu      sync.Mutex
	stateDone    *sync.Cond
	stateWriting bool
	stateWant    uint64 // changes asked to be saved
	stateSaved   uint64 // changes in the file
	stateErr     error

	wg sync.WaitGroup
}

// daemonMount is one mount the daemon serves.
type daemonMount struct {
	m       *Mount
	image   string
	since   time.Time
	origin  string
	created bool // directory made by the daemon
	auto    bool // automatic mountpoint: the Mount removes it
	done    chan struct{}
}

// ErrDaemonRunning is returned by NewDaemon when a daemon already answers
// on the socket.
var ErrDaemonRunning = errors.New("another isofsd daemon is running")

// NewDaemon claims the control socket (refusing when a live daemon
// answers there, removing a stale socket file otherwise), clears mounts
// a crashed predecessor left behind, and listens. Call Run to serve.
func NewDaemon(o DaemonOptions) (*Daemon, error) {
	if o.Socket == "" {
		o.Socket = DefaultSocket()
	}
	if o.StableFor <= 0 {
		o.StableFor = DefaultStableFor
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		o.Log = l
	}
	if o.Notify == nil {
		o.Notify = func(s string) { sddaemon.SdNotify(false, s) }
	}
	if (o.Watch == "" && o.URLList == "") != (o.MountRoot == "") {
		return nil, errors.New("--mount-root goes with --watch or --url-list")
	}
	// Relative to where we were started: the daemon moves to / later.
	for _, p := range []*string{&o.Watch, &o.MountRoot} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, err
			}
			*p = abs
		}
	}
	if o.URLList != "" && !isImageURL(o.URLList) && !strings.Contains(o.URLList, "://") {
		abs, err := filepath.Abs(o.URLList)
		if err != nil {
			return nil, err
		}
		o.URLList = abs
	}
	sock, err := filepath.Abs(o.Socket)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: o, log: o.Log, socket: sock, statePath: StatePath(sock),
		mounts: map[string]*daemonMount{}, conns: map[net.Conn]bool{}, started: time.Now()}
	if err := makeSocketDir(filepath.Dir(sock)); err != nil {
		return nil, err
	}
	// The lock file settles races between two daemons starting at once;
	// the connect test below gives the better message and cleans up
	// after a daemon that died without removing its socket.
	lock, err := os.OpenFile(sock+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w (it holds %s.lock)", ErrDaemonRunning, sock)
	}
	d.lock = lock
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		lock.Close()
		return nil, fmt.Errorf("%w on %s", ErrDaemonRunning, sock)
	}
	if err := os.Remove(sock); err == nil {
		d.log.WithField("socket", sock).Info("removed a stale control socket")
	}
	if cleared, err := clearStaleMounts(d.statePath, d.log); err != nil {
		d.log.WithError(err).Warn("stale mounts: cannot read mountinfo")
	} else if len(cleared) > 0 {
		d.log.WithField("count", len(cleared)).Info("cleared stale mounts of a previous daemon")
	}
	ln, err := listenPrivate(sock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	d.ln = ln
	if err := d.saveState(); err != nil {
		d.log.WithError(err).Warn("cannot write the state file")
	}
	return d, nil
}

// Socket returns the control socket path.
func (d *Daemon) Socket() string { return d.socket }

// Run serves until ctx ends, then unmounts everything and returns.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.acceptLoop(ctx) }()
	if d.opts.Watch != "" || d.opts.URLList != "" {
		w, err := newWatcher(d, d.opts.Watch, d.opts.MountRoot, d.opts.StableFor, d.opts.Poll)
		if err != nil {
			d.shutdown()
			return err
		}
		d.mu.Lock()
		d.watcher = w
		d.mu.Unlock()
		// Images already present are mounted before READY, so that
		// units ordered after isofsd.service find them: the folder's and
		// a local list's. A remote list is fetched once run starts,
		// beside its loop: a slow or stalled server holds up neither.
		w.initial(ctx)
		d.wg.Add(1)
		go func() { defer d.wg.Done(); w.run(ctx) }()
	}
	d.log.WithFields(logrus.Fields{"socket": d.socket, "mounts": d.count()}).Info("daemon ready")
	d.opts.Notify(sddaemon.SdNotifyReady)
	if d.opts.OnReady != nil {
		d.opts.OnReady()
	}
	if iv, err := sddaemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := time.NewTicker(iv / 2)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					d.opts.Notify(sddaemon.SdNotifyWatchdog)
				}
			}
		}()
	}
	<-ctx.Done()
	d.opts.Notify(sddaemon.SdNotifyStopping)
	d.log.Info("daemon stopping: unmounting everything")
	d.shutdown()
	return nil
}

// shutdown stops accepting, unmounts every mount (lazily if busy) and
// waits for the serving goroutines.
func (d *Daemon) shutdown() {
	d.mu.Lock()
	d.stopping = true
	for c := range d.conns {
		c.Close()
	}
	mounts := make([]*daemonMount, 0, len(d.mounts))
	for _, m := range d.mounts {
		mounts = append(mounts, m)
	}
	d.mu.Unlock()
	d.ln.Close()
	// In parallel: each unmount waits for its server to see the end of
	// its connection, and a thousand of them one after the other took
	// 20 s.
	parallel(len(mounts), shutdownWorkers, func(i int) { d.detach(mounts[i], true) })
	d.wg.Wait()
	// A mount detached lazily serves its open files until they are
	// closed; the daemon does not wait for that forever (exiting ends
	// the FUSE connection, and those files then fail).
	timer := time.NewTimer(shutdownWait)
	defer timer.Stop()
	expired := false
	for _, m := range mounts {
		if !expired {
			select {
			case <-m.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-m.done:
		default:
			d.log.WithField("image", m.image).Warn("the mount's server has not finished (files still open on a detached mount?); exiting anyway")
		}
	}
	os.Remove(d.statePath)
	d.lock.Close()
}

func (d *Daemon) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.mounts)
}

// saveState brings the state file up to date with the current mounts
// and returns once a write that includes them is done. Calls at the same
// time — a thousand mounts coming up in parallel when the daemon starts —
// are coalesced: one goroutine writes while the others wait, then writes
// once more for all of them, instead of a thousand writes of a growing
// file (quadratic, and racing on the same temporary file).
func (d *Daemon) saveState() error {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if d.stateDone == nil {
		d.stateDone = sync.NewCond(&d.stateMu)
	}
	d.stateWant++
	want := d.stateWant
	for d.stateWriting {
		d.stateDone.Wait()
	}
	if d.stateSaved >= want {
		return d.stateErr
	}
	d.stateWriting = true
	gen := d.stateWant
	d.stateMu.Unlock()
	d.mu.Lock()
	st := &DaemonState{PID: os.Getpid(), Socket: d.socket}
	for mp, m := range d.mounts {
		st.Mounts = append(st.Mounts, StateMount{Mountpoint: mp, Image: m.image, Since: m.since, Created: m.created || m.auto})
	}
	d.mu.Unlock()
	sort.Slice(st.Mounts, func(i, j int) bool { return st.Mounts[i].Mountpoint < st.Mounts[j].Mountpoint })
	err := writeState(d.statePath, st)
	d.stateMu.Lock()
	d.stateWriting = false
	d.stateSaved, d.stateErr = gen, err
	d.stateDone.Broadcast()
	return err
}

// addMount mounts o and serves it until it is unmounted, by request or
// from outside (fusermount3 -u), removing it from the table then. An
// empty o.Mountpoint asks New for an automatic one.
func (d *Daemon) addMount(ctx context.Context, o Options, origin string, created bool) (*daemonMount, error) {
	auto := o.Mountpoint == ""
	var mp string
	dm := &daemonMount{image: o.Image, since: time.Now(), origin: origin, created: created, done: make(chan struct{})}
	if !auto {
		var err error
		if mp, err = CleanMountpoint(o.Mountpoint); err != nil {
			return nil, err
		}
		if o.MountpointDir != nil {
			// Where the mount will land, whatever the name says now.
			if mp, err = dirPath(o.MountpointDir, o.Mountpoint); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
			}
		}
	}
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return nil, ctlproto.Errorf(ctlproto.CodeShutdown, "daemon is shutting down")
	}
	if mp == AnyDrive {
		// Chosen here, under the lock, so that two such requests get
		// two letters.
		var err error
		if mp, err = pickDrive(func(drive string) bool { return d.mounts[drive] != nil }); err != nil {
			d.mu.Unlock()
			return nil, err
		}
	}
	if !auto {
		o.Mountpoint = mp
	}
	if _, ok := d.mounts[mp]; ok && !auto {
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: %s is already served by this daemon", ErrBusy, mp)
	}
	// Reserve the mountpoint while mounting so that two requests for it
	// cannot race (an automatic one is a new directory: nobody else can
	// ask for it before it exists).
	if !auto {
		d.mounts[mp] = dm
	}
	d.mu.Unlock()
	o.Log = d.log
	o.table = &d.table
	m, err := New(ctx, o)
	if err != nil {
		d.mu.Lock()
		if !auto {
			delete(d.mounts, mp)
		}
		d.mu.Unlock()
		close(dm.done)
		return nil, err
	}
	d.mu.Lock()
	if auto {
		mp = m.Mountpoint()
		dm.auto = true
		d.mounts[mp] = dm
	}
	dm.m = m
	stopping := d.stopping
	d.mu.Unlock()
	if stopping {
		// Shutdown began while we mounted: it could not see this mount.
		if err := m.Unmount(); err != nil {
			m.Detach()
		}
		m.Wait()
		close(dm.done)
		return nil, ctlproto.Errorf(ctlproto.CodeShutdown, "daemon is shutting down")
	}
	if err := d.saveState(); err != nil {
		d.log.WithError(err).Warn("cannot write the state file")
	}
	go func() {
		defer close(dm.done)
		if err := m.Wait(); err != nil {
			d.log.WithField("mountpoint", mp).WithError(err).Warn("closing the image")
		}
		d.mu.Lock()
		if d.mounts[mp] == dm {
			delete(d.mounts, mp)
		}
		d.mu.Unlock()
		if dm.created {
			rmdir(mp) // only if empty, never a file or symlink
		}
		if err := d.saveState(); err != nil {
			d.log.WithError(err).Warn("cannot write the state file")
		}
	}()
	return dm, nil
}

// unmount unmounts dm; lazy detaches it when busy. It returns once the
// mount is gone from the namespace (a lazily detached one may still be
// serving open files).
func (d *Daemon) unmount(dm *daemonMount, lazy bool) error {
	if err := d.detach(dm, lazy); err != nil {
		return err
	}
	<-dm.done
	return nil
}

// detach is unmount without waiting for the mount's server to finish:
// shutdown detaches every mount first and then waits for all of them
// with one time limit, so that one server slow to see the end of its
// connection cannot hold the daemon's exit for ever.
func (d *Daemon) detach(dm *daemonMount, lazy bool) error {
	if dm.m == nil {
		return ctlproto.Errorf(ctlproto.CodeBusy, "mount still being set up")
	}
	log := d.log.WithField("mountpoint", dm.m.Mountpoint())
	err := dm.m.Unmount()
	if err != nil && lazy {
		log.WithError(err).Warn("unmount failed; detaching lazily")
		if derr := dm.m.Detach(); derr != nil && !errors.Is(derr, ErrNotMounted) {
			return derr
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBusy, dm.m.Mountpoint(), err)
	}
	return nil
}

// lookup finds the mount at mp.
func (d *Daemon) lookup(mp string) *daemonMount {
	if clean, err := CleanMountpoint(mp); err == nil {
		mp = clean
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mounts[mp]
}

// status describes dm.
func (dm *daemonMount) status(mp string) ctlproto.MountStatus {
	s := ctlproto.MountStatus{Mountpoint: mp, Image: dm.image, Since: dm.since, Origin: dm.origin, BytesRead: -1}
	if dm.m != nil {
		img := dm.m.Image()
		s.Tree = img.Tree()
		cs := img.CacheStats()
		s.CacheHits, s.CacheMisses = cs.Hits, cs.Misses
		// Counted only by mounts whose backend reports it.
		if br, ok := any(dm.m).(interface{ BytesRead() int64 }); ok {
			s.BytesRead = br.BytesRead()
		}
		s.Lookups, s.ReadDirs = dm.m.Lookups(), dm.m.ReadDirs()
	}
	return s
}

// List returns the live mounts sorted by mountpoint.
func (d *Daemon) List() []ctlproto.MountStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ctlproto.MountStatus, 0, len(d.mounts))
	for mp, dm := range d.mounts {
		if dm.m != nil {
			out = append(out, dm.status(mp))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	return out
}

func (d *Daemon) acceptLoop(ctx context.Context) {
	sem := make(chan struct{}, maxConns)
	for {
		c, err := d.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.WithError(err).Warn("control socket: accept")
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			ctlproto.Write(c, errResponse(ctlproto.Errorf(ctlproto.CodeBusy, "too many control connections")))
			c.Close()
			continue
		}
		d.mu.Lock()
		if d.stopping {
			d.mu.Unlock()
			c.Close()
			<-sem
			continue
		}
		d.conns[c] = true
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer func() { <-sem }()
			d.serveConn(ctx, c)
			d.mu.Lock()
			delete(d.conns, c)
			d.mu.Unlock()
			c.Close()
		}()
	}
}

// peerAllowed checks the peer's credentials: the daemon's own user or
// root. The socket's mode already keeps others out; this also covers a
// socket directory with looser permissions.
func peerAllowed(c *net.UnixConn) (PeerCred, error) {
	cred, err := peerCred(c)
	if err != nil {
		return cred, err
	}
	if ok, who := trustedPeer(cred); !ok {
		return cred, fmt.Errorf("%s may not control this daemon", who)
	}
	return cred, nil
}

func errResponse(e *ctlproto.Error) *ctlproto.Response {
	return &ctlproto.Response{Version: ctlproto.Version, Error: e}
}

func (d *Daemon) serveConn(ctx context.Context, c *net.UnixConn) {
	cred, err := peerAllowed(c)
	if err != nil {
		d.log.WithError(err).Warn("control socket: peer refused")
		ctlproto.Write(c, errResponse(ctlproto.Errorf(ctlproto.CodePermission, "%v", err)))
		return
	}
	br := bufio.NewReaderSize(c, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(connIdleTimeout))
		line, err := ctlproto.ReadLine(br, ctlproto.MaxRequest)
		if errors.Is(err, ctlproto.ErrTooLarge) {
			ctlproto.Write(c, errResponse(ctlproto.Errorf(ctlproto.CodeTooLarge, "request exceeds %d bytes", ctlproto.MaxRequest)))
			return
		}
		if err != nil {
			// EOF, a client killed mid-request, or idle: just drop it.
			return
		}
		resp := d.handle(ctx, line, cred)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := ctlproto.Write(c, resp); err != nil {
			d.log.WithError(err).Debug("control socket: client went away before the response")
			return
		}
	}
}

// handle answers one request line.
func (d *Daemon) handle(ctx context.Context, line []byte, cred PeerCred) *ctlproto.Response {
	req, perr := ctlproto.DecodeRequest(line)
	if perr != nil {
		d.log.WithField("code", perr.Code).Debug("control socket: bad request: " + perr.Message)
		return errResponse(perr)
	}
	resp := &ctlproto.Response{Version: ctlproto.Version, OK: true}
	switch req.Op {
	case ctlproto.OpList:
		resp.Mounts = d.List()
	case ctlproto.OpStatus:
		d.mu.Lock()
		st := &ctlproto.DaemonStatus{PID: os.Getpid(), Socket: d.socket, Started: d.started,
			Watch: d.opts.Watch, MountRoot: d.opts.MountRoot}
		for _, m := range d.mounts {
			if m.m != nil {
				st.Mounts++
			}
		}
		w := d.watcher
		d.mu.Unlock()
		if w != nil {
			st.Pending = w.pending()
		}
		resp.Status = st
	case ctlproto.OpMount:
		mr := req.Mount
		o := Options{Image: mr.Image, Mountpoint: mr.Mountpoint, Tree: mr.Tree, CacheSize: mr.CacheSize,
			UID: cred.UID, GID: cred.GID, Umask: mr.Umask, AllowOther: mr.AllowOther, MountOptions: mr.Options,
			Boot: mr.Boot, Splice: mr.Splice, Prefetch: mr.Prefetch, Xattr: mr.Xattr, DirectIO: mr.DirectIO,
			Nonempty: mr.Nonempty, ReadAheadKB: d.opts.Template.ReadAheadKB, AutoPlace: d.opts.Template.AutoPlace}
		if mr.UID != nil {
			o.UID = *mr.UID
		}
		if mr.GID != nil {
			o.GID = *mr.GID
		}
		dm, err := d.addMount(ctx, o, "client", false)
		if err != nil {
			d.log.WithFields(logrus.Fields{"image": mr.Image, "mountpoint": mr.Mountpoint}).WithError(err).Warn("mount failed")
			return errResponse(codeOf(err))
		}
		st := dm.status(dm.m.Mountpoint())
		resp.Mount = &st
	case ctlproto.OpUnmount:
		dm := d.lookup(req.Mountpoint)
		if dm == nil {
			return errResponse(ctlproto.Errorf(ctlproto.CodeNotFound, "%s is not mounted by this daemon", req.Mountpoint))
		}
		if err := d.unmount(dm, req.Lazy); err != nil {
			return errResponse(codeOf(err))
		}
	}
	return resp
}

// codeOf maps a mount error onto a protocol error.
func codeOf(err error) *ctlproto.Error {
	var pe *ctlproto.Error
	if errors.As(err, &pe) {
		return pe
	}
	code := ctlproto.CodeInternal
	switch {
	case errors.Is(err, ErrNoFUSE):
		code = ctlproto.CodeNoFUSE
	case errors.Is(err, ErrBusy):
		code = ctlproto.CodeBusy
	case errors.Is(err, ErrMountpoint):
		code = ctlproto.CodeMountpoint
	case errors.Is(err, ErrImage):
		code = ctlproto.CodeImage
	case errors.Is(err, ErrNotMounted):
		code = ctlproto.CodeNotFound
	case errors.Is(err, ErrRefused):
		code = ctlproto.CodeRefused
	case errors.Is(err, ErrBadOption):
		code = ctlproto.CodeBadRequest
	case errors.Is(err, ErrNotIsofsd):
		code = ctlproto.CodeNotFound
	}
	return &ctlproto.Error{Code: code, Message: err.Error()}
}
