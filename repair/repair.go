// Package repair turns a damaged or outdated local copy of an image into
// the publisher's current one, downloading only what differs:
//
//   - by the zsync control file published beside the image (Zsync): every
//     block of the current image found anywhere in the local copy is
//     reused, wherever it moved, and only the others are fetched;
//   - else by the image's own checksums (Checksums): the isomd5sum
//     fragment sums and the per-file sums of its md5sum.txt, taken from
//     the remote image, localise the damage in the local copy, and those
//     ranges are fetched again until everything checks.
//
// The repaired file is assembled beside the original in a file of its
// own (FILE.repair-RANDOM, created with O_EXCL, so a name planted by
// another user — a symlink, or a leftover they can still write — is
// never opened) and replaces it only once it verifies — the control
// file's whole-file hash and every fetched block's checksum, or the
// image's own sums, and the caller's Verify hook (published SHA256SUMS)
// — so a repair never leaves bytes that do not verify in place of the
// original. An interrupted or failed repair leaves the original
// untouched.
//
// The control file and the image's own sums are the server's word, not
// the publisher's: a local copy is "unchanged" only once Verify passes on
// it too, and when Verify fails where those sums saw nothing wrong, the
// ranges they cannot vouch for (then the whole image) are fetched again.
package repair

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrMismatch means the server's data does not match the checksums
	// it publishes (a block against the control file, the whole file
	// against its hash): nothing is replaced.
	ErrMismatch = errors.New("repair: the server's data does not match its checksums")
	// ErrNoChecksums means the image has nothing to localise damage by
	// (no isomd5sum, no md5sum.txt) and no zsync control file was found.
	ErrNoChecksums = errors.New("repair: nothing to find the damage by (no zsync control file, no isomd5sum or md5sum.txt in the image)")
	// ErrUnverified is what a Verify hook wraps when the file does not
	// match the published checksum (rather than the check being
	// impossible): a repair then fetches again what the control file or
	// the image's own sums cannot vouch for.
	ErrUnverified = errors.New("repair: the file does not match the published checksum")
)

// Suffix starts the name of the file a repair is assembled in, beside
// the original: FILE.repair-RANDOM.
const Suffix = ".repair"

// DefaultWorkers is how many ranges are fetched at once.
const DefaultWorkers = 4

// maxRun bounds one download request (and the memory it is checked in).
const maxRun = 4 << 20

// Options configure a repair.
type Options struct {
	// Workers is how many ranges are fetched at once.
	Workers int
	// Verify, if set, checks a file (its path) against the published
	// checksum: the assembled file before it replaces the original (an
	// error keeps the original), and the original before it is called
	// unchanged. An error wrapping ErrUnverified (the bytes differ) makes
	// the repair fetch what its own sums cannot vouch for and check
	// again; any other error ends it.
	Verify func(path string) error
	// Progress is told what is being done and how far: "scan" (bytes of
	// the local copy searched), "fetch" (bytes downloaded), "check"
	// (bytes hashed).
	Progress func(phase string, done, total int64)
	// Note receives one-line remarks.
	Note func(string)
}

func (o *Options) note(format string, args ...any) {
	if o.Note != nil {
		o.Note(fmt.Sprintf(format, args...))
	}
}

// verify runs the Verify hook on path (nil when there is none).
func (o *Options) verify(path string) error {
	if o.Verify == nil {
		return nil
	}
	return o.Verify(path)
}

func (o *Options) progress(phase string, done, total int64) {
	if o.Progress != nil {
		o.Progress(phase, done, total)
	}
}

// Result says what a repair did.
type Result struct {
	// Method is "zsync" or "checksums".
	Method string
	// Size is the repaired file's size.
	Size int64
	// Reused is the bytes taken from the local copy, Fetched those
	// downloaded (data only), in Requests range requests.
	Reused, Fetched int64
	Requests        int
	// Unchanged is set when the local copy already was the current image:
	// nothing was written.
	Unchanged bool
}

// assembly is the file a repair is built in.
type assembly struct {
	path string
	f    *os.File
}

// newAssembly creates a new file beside path, named path+Suffix+"-"+
// random. os.CreateTemp opens with O_CREATE|O_EXCL (mode 0600): a name
// that exists — a symlink another user planted in a shared directory, or
// a file left by a killed repair that its owner may still hold open — is
// never opened, written through or renamed into place.
func newAssembly(path string) (*assembly, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+Suffix+"-*")
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	return &assembly{path: f.Name(), f: f}, nil
}

// discard removes the assembly (the original stays as it was).
func (a *assembly) discard() {
	a.f.Close()
	os.Remove(a.path)
}

// commit syncs the (verified) assembly and renames it over dst with
// dst's permissions. The mode is set through the assembly's own
// descriptor, and the rename happens only while the assembly's name
// still is the file repair created (another user who can write the
// directory could have swapped it).
func (a *assembly) commit(dst string) error {
	mine, err := a.f.Stat()
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		a.discard()
		return fmt.Errorf("repair: %w", err)
	}
	if st, err := os.Stat(dst); err == nil {
		if err := a.f.Chmod(st.Mode().Perm()); err != nil {
			a.discard()
			return fmt.Errorf("repair: %w", err)
		}
	}
	if err := a.f.Close(); err != nil {
		os.Remove(a.path)
		return fmt.Errorf("repair: %w", err)
	}
	if st, err := os.Lstat(a.path); err != nil || !os.SameFile(st, mine) {
		return fmt.Errorf("repair: %s was replaced by another file while the repair ran: %s is unchanged", a.path, dst)
	}
	if err := os.Rename(a.path, dst); err != nil {
		os.Remove(a.path)
		return fmt.Errorf("repair: %w", err)
	}
	return nil
}

// settle checks the assembly with o.Verify and commits it over dst.
// When it does not match the published checksum (ErrUnverified), each
// fallback — ranges the repair's own sums cannot vouch for, then the
// whole image — is fetched into the assembly and it is checked again;
// the original stays unless a check passes.
func settle(ctx context.Context, dst string, src *httpsrc.Source, a *assembly, o *Options, res *Result, fallbacks ...[]run) error {
	err := o.verify(a.path)
	for _, runs := range fallbacks {
		if !errors.Is(err, ErrUnverified) {
			break
		}
		var n int64
		for _, r := range runs {
			n += r.n
		}
		o.note("the result does not match the published checksum: fetching again the %d bytes in %d ranges nothing else vouches for", n, len(runs))
		if err = fetchInto(ctx, src, a, runs, o, res); err != nil {
			break
		}
		err = o.Verify(a.path)
	}
	if err != nil {
		a.discard()
		return err
	}
	return a.commit(dst)
}

// whole is the single range of an image of size bytes.
func whole(size int64) []run { return []run{{0, size}} }

// run is one byte range to fetch.
type run struct{ off, n int64 }

// fetchRuns downloads runs with o.Workers requests at once; check
// verifies each run's bytes before write stores them. The first error
// stops the rest.
func fetchRuns(ctx context.Context, src *httpsrc.Source, runs []run, o *Options, res *Result,
	check func(r run, data []byte) error, write func(r run, data []byte) error) error {
	workers := o.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	var total int64
	for _, r := range runs {
		total += r.n
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Int64
	work := make(chan run)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, maxRun)
			for r := range work {
				buf = buf[:r.n]
				err := src.CopyRange(ctx, runWriter{r.off, buf}, r.off, r.n, func(n int64) {
					o.progress("fetch", done.Add(n), total)
				})
				if err == nil {
					err = check(r, buf)
				}
				if err == nil {
					err = write(r, buf)
				}
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				res.Fetched += r.n
				res.Requests++
				mu.Unlock()
			}
		}()
	}
feed:
	for _, r := range runs {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// runWriter is an io.WriterAt over the buffer of one run: CopyRange
// writes at image offsets, base is the run's first.
type runWriter struct {
	base int64
	buf  []byte
}

func (w runWriter) WriteAt(p []byte, off int64) (int, error) {
	rel := off - w.base
	if rel < 0 || rel > int64(len(w.buf)) || int64(len(p)) > int64(len(w.buf))-rel {
		return 0, fmt.Errorf("repair: write of %d bytes at %d outside the run %d+%d", len(p), off, w.base, len(w.buf))
	}
	return copy(w.buf[rel:], p), nil
}

// seedReader counts what Scan reads for the progress callback.
type seedReader struct {
	r    io.Reader
	o    *Options
	done int64
	tot  int64
}

func (s *seedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.done += int64(n)
	s.o.progress("scan", s.done, s.tot)
	return n, err
}
