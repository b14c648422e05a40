// Package fetch downloads a remote image (http, https or s3) to a local
// file: in parallel ranged requests, resumable after an interruption from
// a GNU ddrescue mapfile kept beside the file, and checked at the end
// against what the publisher puts beside the image (see Check).
//
// The object is pinned by httpsrc when it is opened (ETag or
// Last-Modified, and size), and the pin is written into the mapfile: a
// resumed download continues only if the server still has the same
// object, so a file is never stitched together from two releases (an
// object with neither ETag nor Last-Modified is downloaded afresh).
//
// The file and its mapfile are never reached through a symbolic link,
// and a download resumes only onto files of the user's own that nobody
// else can write; a size beyond the file system's free space is refused
// before anything is created.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// Defaults for zero Options fields.
const (
	DefaultWorkers   = 4
	DefaultChunkSize = 8 << 20
	// saveEvery is how often the mapfile is brought up to date while a
	// download runs (after the file's data is synced).
	saveEvery = 2 * time.Second
)

// MapSuffix is appended to the file's name to name its mapfile.
const MapSuffix = ".map"

// ErrExists means the target file exists and has no mapfile: it is not
// an interrupted download, so fetch does not overwrite it unless told.
var ErrExists = errors.New("fetch: file exists and is not an interrupted download")

// Options configure Download. The zero value is ready to use.
type Options struct {
	// Workers is how many ranged requests run at once.
	Workers int
	// ChunkSize is the size of one request (and the unit of progress
	// recorded in the mapfile).
	ChunkSize int64
	// MapFile is the mapfile path; "" is the file's path + MapSuffix.
	MapFile string
	// Force starts over on an existing file without a mapfile.
	Force bool
	// Progress is called with the bytes present so far and the total.
	Progress func(done, total int64)
	// Note receives one-line remarks (resuming, starting over and why).
	Note func(string)
}

// Result says what a download did.
type Result struct {
	Size    int64 // the object's size
	Fetched int64 // bytes transferred in this run
	Resumed int64 // bytes already there from an interrupted run
}

// Download copies the object src reads to the file at path. An
// interrupted download (error, Ctrl-C, a killed process) leaves the file
// and its mapfile; calling Download again continues it. On success the
// mapfile is removed.
func Download(ctx context.Context, src *httpsrc.Source, path string, o Options) (*Result, error) {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.MapFile == "" {
		o.MapFile = path + MapSuffix
	}
	note := o.Note
	if note == nil {
		note = func(string) {}
	}
	size := src.Size()
	pin := pinLine(src)
	// Nothing a path names is followed or trusted: FILE and FILE.map may
	// sit in a directory others can write (a planted link would make us
	// write elsewhere, a planted pair resume onto foreign bytes).
	mapInfo, err := checkOurs(o.MapFile, true)
	if err != nil {
		return nil, err
	}
	fileInfo, err := checkOurs(path, false)
	if err != nil {
		return nil, err
	}
	var m *ddmap.Map
	if mapInfo != nil {
		if m, err = resumeMap(src, o.MapFile, mapInfo, pin, size, note); err != nil {
			return nil, err
		}
		if m != nil && fileInfo == nil {
			note(fmt.Sprintf("%s is gone: starting over", path))
			m = nil
		} else if m != nil {
			if err := vetOurs(path, fileInfo, true); err != nil {
				return nil, err
			}
		}
	}
	resuming := m != nil
	var freed int64
	if m == nil {
		// A file with a mapfile (even a stale one) is a download of ours.
		if fileInfo != nil && !o.Force && mapInfo == nil {
			return nil, fmt.Errorf("%w: %s (use --force to replace it, or `isofsd repair` to fix it)", ErrExists, path)
		}
		if fileInfo != nil {
			freed = fileInfo.Size()
		}
		m = ddmap.New(size)
		m.CommandLine = pin
	}
	// Before anything is created: a server's size is not trusted to fit.
	if err := checkSpace(path, size-finished(m), freed); err != nil {
		return nil, err
	}
	f, created, err := openTarget(path, fileInfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fail := func(err error) (*Result, error) {
		if created {
			f.Close()
			os.Remove(path)
		}
		return nil, err
	}
	if fileInfo != nil && !resuming {
		if err := f.Truncate(0); err != nil {
			return fail(fmt.Errorf("fetch: %s: %w", path, err))
		}
	}
	// Sparse to full size: the blocks land where they belong.
	if st, err := f.Stat(); err != nil || st.Size() != size {
		if err := f.Truncate(size); err != nil {
			return fail(fmt.Errorf("fetch: %s: %w", path, err))
		}
	}
	d := &download{ctx: ctx, src: src, f: f, m: m, o: o, size: size}
	d.have.Store(finished(m))
	res := &Result{Size: size, Resumed: d.have.Load()}
	if err := d.save(); err != nil {
		return res, err
	}
	err = d.run()
	res.Fetched = d.fetched.Load()
	if serr := d.save(); err == nil {
		err = serr
	}
	if err != nil {
		return res, fmt.Errorf("fetch: %s: %w (%d of %d bytes done; run the same command again to resume)", path, err, d.have.Load(), size)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("fetch: %s: %w", path, err)
	}
	if err := os.Remove(o.MapFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("fetch: %w", err)
	}
	return res, nil
}

// pinLine records the object in the mapfile's command-line comment: a
// resumed download must find the very same line.
func pinLine(src *httpsrc.Source) string {
	return fmt.Sprintf("isofsd fetch %s (ETag %s, Last-Modified %q, %d bytes)", src.URL(), orNone(src.ETag()), src.LastModified(), src.Size())
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// resumeMap loads the mapfile (at path, seen as fi) of an interrupted
// download of the same object, or returns nil to start over (saying why
// through note). An object without ETag and Last-Modified is never
// resumed: its size alone cannot tell that the server still has the same
// object, and a file must not be stitched together from two.
func resumeMap(src *httpsrc.Source, path string, fi fs.FileInfo, pin string, size int64, note func(string)) (*ddmap.Map, error) {
	m, err := loadOurMap(path, fi)
	if errors.Is(err, ErrUnsafe) {
		return nil, err
	}
	if err != nil {
		note(fmt.Sprintf("%v: starting over", err))
		return nil, nil
	}
	switch {
	case src.ETag() == "" && src.LastModified() == "":
		note(fmt.Sprintf("the server sends no ETag or Last-Modified for %s, so an interrupted download cannot be told to be of the same object: starting over", src.URL()))
		return nil, nil
	case m.CommandLine != pin:
		note(fmt.Sprintf("%s is from another download (%s; now %s): starting over", path, m.CommandLine, pin))
		return nil, nil
	case m.Size() != size:
		note(fmt.Sprintf("%s covers %d bytes, the object has %d: starting over", path, m.Size(), size))
		return nil, nil
	}
	for _, b := range m.Blocks {
		if b.Status != ddmap.Finished && b.Status != ddmap.NonTried {
			// A map ddrescue worked on: what it could not read is
			// simply not there yet.
			m.Set(b.Pos, b.Size, ddmap.NonTried)
		}
	}
	note(fmt.Sprintf("resuming: %d of %d bytes already downloaded", finished(m), size))
	return m, nil
}

// finished counts the bytes the map has as done.
func finished(m *ddmap.Map) int64 {
	return m.Totals()[ddmap.Finished].Bytes
}

// download is one run of Download.
type download struct {
	ctx  context.Context
	src  *httpsrc.Source
	f    *os.File
	o    Options
	size int64

	mu sync.Mutex
	m  *ddmap.Map

	have     atomic.Int64 // bytes finished (mapped or written this run)
	inflight atomic.Int64 // bytes written of chunks not finished yet
	fetched  atomic.Int64
}

// chunker hands out the work, the areas not finished when the run began
// cut into ChunkSize pieces, one at a time: a server's size can make
// their number huge (2^50 bytes is 2^27 chunks of 8 MiB), so they are
// never listed up front.
type chunker struct {
	areas []ddmap.Block
	pos   int64 // next chunk's start in areas[0]
	size  int64
}

func (d *download) chunker() *chunker {
	c := &chunker{size: d.o.ChunkSize}
	for _, b := range d.m.Blocks {
		if b.Status != ddmap.Finished {
			c.areas = append(c.areas, b)
		}
	}
	if len(c.areas) > 0 {
		c.pos = c.areas[0].Pos
	}
	return c
}

// peek is the next chunk; ok is false when none is left.
func (c *chunker) peek() (b ddmap.Block, ok bool) {
	if len(c.areas) == 0 {
		return ddmap.Block{}, false
	}
	return ddmap.Block{Pos: c.pos, Size: min(c.size, c.areas[0].End()-c.pos), Status: ddmap.NonTried}, true
}

// next moves past the chunk peek returned.
func (c *chunker) next() {
	c.pos += c.size
	if c.pos >= c.areas[0].End() {
		c.areas = c.areas[1:]
		if len(c.areas) > 0 {
			c.pos = c.areas[0].Pos
		}
	}
}

// run fetches every missing chunk with Workers requests in flight, saving
// the map as it goes; the first failure stops the others.
func (d *download) run() error {
	ctx, cancel := context.WithCancelCause(d.ctx)
	defer cancel(nil)
	work := make(chan ddmap.Block)
	var wg sync.WaitGroup
	for range d.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				var written int64
				err := d.src.CopyRange(ctx, d.f, c.Pos, c.Size, func(n int64) {
					written += n
					d.fetched.Add(n)
					in := d.inflight.Add(n)
					if d.o.Progress != nil {
						d.o.Progress(d.have.Load()+in, d.size)
					}
				})
				d.inflight.Add(-written)
				if err != nil {
					cancel(err)
					continue
				}
				d.mu.Lock()
				d.m.Set(c.Pos, c.Size, ddmap.Finished)
				d.m.Pos = c.End()
				d.mu.Unlock()
				done := d.have.Add(c.Size)
				if d.o.Progress != nil {
					d.o.Progress(done, d.size)
				}
			}
		}()
	}
	saver := time.NewTicker(saveEvery)
	defer saver.Stop()
	var saveErr error
	chunks := d.chunker()
feed:
	for {
		c, ok := chunks.peek()
		if !ok {
			break
		}
		select {
		case work <- c:
			chunks.next()
		case <-saver.C:
			if err := d.save(); err != nil {
				saveErr = err
				cancel(err)
			}
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if saveErr != nil {
		return saveErr
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return d.ctx.Err()
}

// save syncs the file, then writes a copy of the map: what the map calls
// finished is on disk before the map says so.
func (d *download) save() error {
	d.mu.Lock()
	snap := *d.m
	snap.Blocks = append([]ddmap.Block(nil), d.m.Blocks...)
	d.mu.Unlock()
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return snap.Save(d.o.MapFile)
}
