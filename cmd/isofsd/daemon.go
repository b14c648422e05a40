package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"

	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/fetch"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/mounter"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

func newDaemonCmd(a *app) *cobra.Command {
	var (
		f         mountFlags
		socket    string
		watch     string
		mountRoot string
		stableFor time.Duration
		poll      bool
		logFile   string
		// windowsService: the service manager runs us (service install
		// --windows registers the daemon with this flag).
		windowsService bool
		// requestSize and readers size each mount's FUSE server.
		requestSize int64
		readers     int
		// urlList names remote images to mount; src reads them.
		urlList  string
		urlEvery time.Duration
		src      sourceFlags
	)
	cmd := &cobra.Command{
		Use:   "daemon [--watch DIR --mount-root DIR] [--socket PATH]",
		Short: "Run the long-lived daemon serving many mounts, controlled through a socket",
		Long: `Run in the foreground, serving mounts requested through the control socket
(isofsd mount/unmount/list/status find it) and, with --watch, mounting every
*.iso and *.img that appears in DIR at --mount-root/<name> once it stops
growing, and unmounting it when it disappears.

Under systemd (Type=notify) it reports READY once the socket listens and the
images already in the watch directory are mounted; SIGTERM unmounts
everything. A daemon restarted after a crash clears the mounts its
predecessor left behind. The mount flags below apply to watched images.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tmpl, err := f.mountOptions("", "")
			if err != nil {
				return withCode(exitUsage, err)
			}
			if readers < 0 || readers > 64 {
				return withCode(exitUsage, fmt.Errorf("--readers %d: want 0 to 64", readers))
			}
			tmpl.MaxRequest, tmpl.Readers, tmpl.Lean = int(requestSize), readers, true
			if _, err := src.s3.options(); err != nil {
				return withCode(exitUsage, err)
			}
			if _, err := parseHeaders(src.headers); err != nil {
				return withCode(exitUsage, err)
			}
			if len(mounter.Backends()) == 0 {
				return withCode(exitUsage, fmt.Errorf("this isofsd cannot mount on %s: %v", runtime.GOOS, cgofuse.ErrUnsupported))
			}
			if logFile != "" {
				if err := logTo(a, logFile); err != nil {
					return withCode(exitUsage, err)
				}
			}
			journaldLogging(a)
			startProfiler()
			if os.Getenv("GOGC") == "" {
				// As for a single mount (see gctune.go): a daemon of a
				// thousand idle mounts otherwise lets twice its live heap
				// stand in garbage.
				tuneGC(mountGCPercent, gcHeapFloor)
			}
			// A parent waiting for a detached daemon (isofsd mount on
			// Windows starts one) hears once it is ready, or why not.
			ready := mounter.ReadyFromEnv()
			run := func(ctx context.Context, onReady func()) error {
				d, err := mounter.NewDaemon(mounter.DaemonOptions{
					Socket: socket, Watch: watch, MountRoot: mountRoot, StableFor: stableFor, Poll: poll,
					Template: tmpl, Log: a.log, OnReady: func() { ready.TellParent(""); onReady() },
					URLList: urlList, URLListEvery: urlEvery,
					OpenRemote: func(ctx context.Context, u string, io *isofmt.Options) (*isofmt.Image, func() error, error) {
						return src.openWith(ctx, a, u, io)
					},
					FetchList: func(ctx context.Context, u string) ([]byte, error) {
						open := func(ctx context.Context, u string) (*httpsrc.Source, error) {
							return src.openRemote(ctx, u, func(ho *httpsrc.Options) {
								ho.OpenPrefetch, ho.OpenTail, ho.Retries = httpsrc.PinOnly, -1, 1
							})
						}
						return fetch.ReadObject(ctx, open, u, 4<<20)
					},
				})
				if err != nil {
					code := exitInternal
					if errors.Is(err, mounter.ErrDaemonRunning) {
						code = exitUsage
					}
					ready.Fail(code, err)
					return withCode(code, err)
				}
				// Keep no directory busy.
				os.Chdir("/")
				if err := d.Run(ctx); err != nil {
					return withCode(exitInternal, err)
				}
				return nil
			}
			if windowsService {
				return mounter.RunAsService(mounter.WindowsServiceName, run)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
			return run(ctx, func() {})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&socket, "socket", mounter.DefaultSocket(), "control socket path")
	fl.StringVar(&watch, "watch", "", "directory whose images are mounted automatically")
	fl.StringVar(&mountRoot, "mount-root", "", "directory under which watched images are mounted")
	fl.DurationVar(&stableFor, "stable-for", mounter.DefaultStableFor, "how long a watched image must stop changing before it is mounted")
	fl.BoolVar(&poll, "poll", false, "scan the watch directory periodically instead of using inotify (network file systems)")
	treeVar(fl, &f.tree, "tree for watched images: udf, rockridge, joliet or iso9660 (default: the richest present)")
	fl.StringVar(&f.cacheSize, "cache-size", "32M", "metadata sector cache size per mount")
	fl.Uint32Var(&f.uid, "uid", uint32(os.Getuid()), "owner of files on trees without ownership")
	fl.Uint32Var(&f.gid, "gid", uint32(os.Getgid()), "group of files on trees without ownership")
	fl.StringVar(&f.umask, "umask", "0", "octal mask cleared from permissions on trees without them")
	fl.StringSliceVarP(&f.options, "options", "o", nil, "mount options for watched images (allow_other, nodev, …)")
	enumVar(fl, &f.splice, "splice", defaultSplice, onOffValues, "serve plain file data with splice: on or off")
	enumVar(fl, &f.prefetch, "prefetch", defaultPrefetch, onOffValues, "read ahead as tree walks go (the next small files of a directory into the page cache, the next directories parsed): on or off")
	fl.BoolVar(&f.directIO, "direct-io", false, "read files of 1 MiB or more of watched images past the kernel's page cache")
	fl.IntVar(&f.readAhead, "read-ahead-kb", mounter.DefaultReadAheadKB, "read-ahead of each mount in KiB when running as root")
	sizeVar(fl, &requestSize, "request-size", 128<<10, 16<<10, 1<<20, "largest FUSE request of each mount (16K to 1M): an idle mount keeps a buffer of this size per reader")
	fl.IntVar(&readers, "readers", 1, "requests each mount serves at once (0: one per CPU); each waiting reader holds a buffer and a thread")
	fl.StringVar(&urlList, "url-list", "", "file, or http(s):// or s3:// URL of one, listing remote images (one URL a line) to mount below --mount-root with the daemon's own credentials")
	fl.DurationVar(&urlEvery, "url-list-every", mounter.DefaultURLListEvery, "how often a --url-list that is a URL is fetched again (a local one is re-read when it changes)")
	fl.StringArrayVar(&src.headers, "header", nil, `HTTP header for the images of --url-list, "Name: value" (repeatable)`)
	addS3Flags(fl, &src.s3)
	fl.StringVar(&logFile, "log-file", "", "append the log to this file instead of stderr")
	fl.BoolVar(&windowsService, "windows-service", false, "run under the Windows service manager (set by service install --windows)")
	if runtime.GOOS != "windows" {
		fl.MarkHidden("windows-service")
	}
	return cmd
}

// logTo appends the log to path (its directory is created, private).
func logTo(a *app, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("--log-file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("--log-file: %w", err)
	}
	a.log.SetOutput(f)
	return nil
}

// journaldLogging drops timestamps and colours when stderr goes to the
// journal (systemd sets JOURNAL_STREAM): journald stamps lines itself.
func journaldLogging(a *app) {
	if os.Getenv("JOURNAL_STREAM") == "" || a.opts.logFormat != "text" {
		return
	}
	a.log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
}

// daemonCall sends one request to the daemon at socket (see
// mounter.Dial for the checks made before anything is sent).
func daemonCall(socket string, req *ctlproto.Request) (*ctlproto.Response, error) {
	return mounter.Call(socket, req)
}

// daemonAnswers reports whether a daemon answers a status request on
// socket.
func daemonAnswers(socket string) bool {
	resp, err := daemonCall(socket, &ctlproto.Request{Op: ctlproto.OpStatus})
	return err == nil && resp.Status != nil
}

// daemonExitCode maps a daemon error to the exit-code contract: what the
// user can fix (image, mountpoint, busy, no FUSE, bad request) is usage.
func daemonExitCode(err error) int {
	var pe *ctlproto.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case ctlproto.CodeImage, ctlproto.CodeMountpoint, ctlproto.CodeBusy, ctlproto.CodeNoFUSE,
			ctlproto.CodeBadRequest, ctlproto.CodeNotFound, ctlproto.CodePermission, ctlproto.CodeRefused:
			return exitUsage
		}
		return exitInternal
	}
	// Cannot reach the daemon.
	return exitUsage
}

// daemonClientMount asks the daemon at socket to make the mount o
// describes (relative paths are resolved here: the daemon does not share
// our working directory); an empty mountpoint asks for an automatic one.
func daemonClientMount(socket string, o mounter.Options) (*ctlproto.MountStatus, error) {
	img, err := filepath.Abs(o.Image)
	if err != nil {
		return nil, err
	}
	mp := ""
	if o.Mountpoint != "" {
		if mp, err = mounter.CleanMountpoint(o.Mountpoint); err != nil {
			return nil, err
		}
	}
	uid, gid := o.UID, o.GID
	req := &ctlproto.Request{Op: ctlproto.OpMount, Mount: &ctlproto.MountRequest{
		Image: img, Mountpoint: mp, AutoMountpoint: mp == "", Tree: o.Tree, CacheSize: o.CacheSize, UID: &uid, GID: &gid,
		Umask: o.Umask, AllowOther: o.AllowOther, Options: o.MountOptions, Boot: o.Boot, Splice: o.Splice, Prefetch: o.Prefetch,
		Xattr: o.Xattr, DirectIO: o.DirectIO, Nonempty: o.Nonempty,
	}}
	resp, err := daemonCall(socket, req)
	if err != nil {
		return nil, withCode(daemonExitCode(err), err)
	}
	return resp.Mount, nil
}

// daemonClientUnmount asks the daemon at socket to unmount mountpoint.
func daemonClientUnmount(socket, mountpoint string, lazy bool) error {
	mp, err := mounter.CleanMountpoint(mountpoint)
	if err != nil {
		return err
	}
	if _, err := daemonCall(socket, &ctlproto.Request{Op: ctlproto.OpUnmount, Mountpoint: mp, Lazy: lazy}); err != nil {
		return withCode(daemonExitCode(err), err)
	}
	return nil
}

// daemonMountFlags are the `isofsd mount`/`unmount` flags choosing
// between the daemon and a standalone mount.
type daemonMountFlags struct {
	socket     string
	daemon     bool
	standalone bool
	// app receives the warning about a socket that is not used.
	app *app
}

// addDaemonMountFlags registers --daemon, --standalone and --socket.
func addDaemonMountFlags(fl *pflag.FlagSet, d *daemonMountFlags) {
	fl.StringVar(&d.socket, "socket", mounter.DefaultSocket(), "control socket of the isofsd daemon")
	fl.BoolVar(&d.daemon, "daemon", false, "ask the running isofsd daemon to do it (fail if none answers)")
	fl.BoolVar(&d.standalone, "standalone", false, "never use a running daemon")
}

// useDaemon decides whether the request goes to the daemon: --daemon
// requires one, --standalone never uses one, and by default a daemon is
// used when its socket answers.
func (d *daemonMountFlags) useDaemon() (bool, error) {
	switch {
	case d.daemon && d.standalone:
		return false, withCode(exitUsage, errors.New("--daemon and --standalone exclude each other"))
	case d.standalone:
		return false, nil
	}
	_, err := daemonCall(d.socket, &ctlproto.Request{Op: ctlproto.OpStatus})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mounter.ErrDaemonRefused) && d.daemon:
		return false, withCode(exitUsage, err)
	case errors.Is(err, mounter.ErrDaemonRefused):
		// A daemon of root's or yours is there and will not serve you:
		// going around it would leave its mounts out (unmount --all) or
		// hide that the set-up is wrong. --standalone does without it.
		return false, withCode(exitUsage, fmt.Errorf("%w (--standalone does without the daemon)", err))
	case d.daemon && errors.Is(err, mounter.ErrUntrustedSocket):
		return false, withCode(exitUsage, fmt.Errorf("--daemon: %w", err))
	case d.daemon:
		return false, withCode(exitUsage, fmt.Errorf("--daemon: no isofsd daemon answers on %s (%v)", d.socket, err))
	case errors.Is(err, mounter.ErrUntrustedSocket):
		// Nothing was sent; do the job without it.
		if d.app != nil {
			d.app.warnf("not using the daemon: %v", err)
		}
	}
	return false, nil
}

// tryDaemonMount mounts through the daemon when useDaemon says so;
// handled reports whether it did (or failed trying), mountpoint where.
func (d *daemonMountFlags) tryDaemonMount(a *app, o mounter.Options) (mountpoint string, handled bool, err error) {
	use, err := d.useDaemon()
	if err != nil || !use {
		return "", err != nil, err
	}
	st, err := daemonClientMount(d.socket, o)
	if err != nil {
		return "", true, err
	}
	a.log.WithFields(logrus.Fields{"image": st.Image, "mountpoint": st.Mountpoint, "tree": st.Tree, "socket": d.socket}).Debug("mounted by the daemon")
	return st.Mountpoint, true, nil
}

// autoStartDaemon: on Windows only the process serving a mount can end
// it, so `isofsd mount` starts the user's daemon when none answers (and
// `isofsd unmount X:` asks it); elsewhere a mount without a daemon gets
// its own detached process.
const autoStartDaemon = runtime.GOOS == "windows"

// startDaemon starts a detached daemon on d.socket and returns once it
// answers there; its log goes next to the socket.
func (d *daemonMountFlags) startDaemon() error {
	return mounter.Daemonize([]string{"daemon", "--socket", d.socket,
		"--log-file", filepath.Join(filepath.Dir(d.socket), "isofsd.log")}, "")
}

// tryDaemonUnmount unmounts through the daemon when it serves mountpoint
// (or --daemon insists); handled reports whether it did.
func (d *daemonMountFlags) tryDaemonUnmount(mountpoint string, lazy bool) (handled bool, err error) {
	use, err := d.useDaemon()
	if err != nil || !use {
		return err != nil, err
	}
	err = daemonClientUnmount(d.socket, mountpoint, lazy)
	var pe *ctlproto.Error
	if errors.As(err, &pe) && pe.Code == ctlproto.CodeNotFound && !d.daemon {
		// Not the daemon's mount: a standalone one.
		return false, nil
	}
	return true, err
}

func newListCmd(a *app) *cobra.Command {
	var socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the mounts served by the isofsd daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := daemonCall(socket, &ctlproto.Request{Op: ctlproto.OpList})
			if err != nil {
				return withCode(daemonExitCode(err), err)
			}
			return writeMountList(cmd.OutOrStdout(), resp.Mounts, asJSON, time.Now())
		},
	}
	cmd.Flags().StringVar(&socket, "socket", mounter.DefaultSocket(), "control socket of the isofsd daemon")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// writeMountList prints mounts as a table or as JSON.
func writeMountList(w io.Writer, mounts []ctlproto.MountStatus, asJSON bool, now time.Time) error {
	if asJSON {
		return writeJSONList(w, mounts)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MOUNTPOINT\tIMAGE\tTREE\tUPTIME\tREAD\tCACHE HITS")
	for _, m := range mounts {
		read := "-"
		if m.BytesRead >= 0 {
			read = humanBytes(m.BytesRead)
		}
		hit := "-"
		if r := m.CacheHitRate(); r >= 0 {
			hit = fmt.Sprintf("%.1f%%", 100*r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Mountpoint, m.Image, m.Tree,
			m.Uptime(now).Truncate(time.Second), read, hit)
	}
	return tw.Flush()
}

func newStatusCmd(a *app) *cobra.Command {
	var socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Report whether the isofsd daemon runs, and what it serves",
		Long: `Exit status 0 when a daemon answers on the socket, 1 when none does, 2 when
the socket is not trusted (someone else's directory, file or process) or
the daemon will not serve you (root's daemon, say: its socket is not yours
to connect to, or it turns you away).
With --json the answer is always one JSON object with "running".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			resp, err := daemonCall(socket, &ctlproto.Request{Op: ctlproto.OpStatus})
			if err == nil && resp.Status == nil {
				err = errors.New("daemon sent no status")
			}
			if err != nil {
				code := exitDamaged
				if errors.Is(err, mounter.ErrUntrustedSocket) || errors.Is(err, mounter.ErrDaemonRefused) {
					code = exitUsage
				}
				if asJSON {
					if jerr := writeJSON(out, statusJSON{Running: false, Socket: socket, Error: err.Error()}); jerr != nil {
						return withCode(exitInternal, jerr)
					}
				}
				return withCode(code, err)
			}
			st := resp.Status
			if asJSON {
				// (Socket shadows the embedded field of the same JSON name.)
				return writeJSON(out, statusJSON{Running: true, DaemonStatus: st, Socket: st.Socket})
			}
			fmt.Fprintf(out, "isofsd daemon running: pid %d, socket %s, up %s, %d mount(s)\n",
				st.PID, st.Socket, time.Since(st.Started).Truncate(time.Second), st.Mounts)
			if st.Watch != "" {
				fmt.Fprintf(out, "watching %s → %s (%d image(s) pending)\n", st.Watch, st.MountRoot, st.Pending)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", mounter.DefaultSocket(), "control socket of the isofsd daemon")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// statusJSON is what `status --json` prints: "running" and, when a
// daemon answers, its status fields; otherwise the socket asked and why
// no daemon answered.
type statusJSON struct {
	Running bool `json:"running"`
	*ctlproto.DaemonStatus
	Socket string `json:"socket,omitempty"`
	Error  string `json:"error,omitempty"`
}

// writeJSON prints v indented: the one JSON writer of every --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONList prints a list as writeJSON does, an empty one as [] (not
// null), so that a script can always iterate over it.
func writeJSONList[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	return writeJSON(w, list)
}
