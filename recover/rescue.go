package recover

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/isofsd/isofsd/recover/ddmap"
)

// Defaults for RescueOptions.
const (
	DefaultSectorSize  = 2048
	DefaultClusterSize = 1 << 20 // copy-phase read size: large reads are what makes a healthy disc fast
	// minSkip is the first jump past an error in the first copy pass
	// (ddrescue's default skip size); it doubles on each consecutive error.
	minSkip = 64 << 10
	// maxSkip caps the jump; the skipped area is read in the next pass.
	maxSkip = 1 << 30
	// DefaultSaveInterval is how often the mapfile is rewritten while work goes on.
	DefaultSaveInterval = time.Second
)

// RescueOptions tune Rescue. The zero value is usable.
type RescueOptions struct {
	// SectorSize is the unit of trimming, scraping and retrying (2048 for optical media).
	SectorSize int64
	// ClusterSize is the read size of the copy phase; rounded to sectors.
	ClusterSize int64
	// Retries is the number of retry passes over bad sectors.
	Retries int
	// SaveMap persists the map. Rescue calls it at most every SaveInterval
	// while working, after each phase and before returning. It must make
	// the output's data durable before the map that describes it.
	SaveMap func(*ddmap.Map) error
	// SaveInterval defaults to DefaultSaveInterval.
	SaveInterval time.Duration
	// Progress, if set, is called after reads, at most every
	// ProgressInterval (0 means 50 ms; negative means after every read).
	Progress         func(RescueProgress)
	ProgressInterval time.Duration
	// Buffer, if set, is used for reads (it must hold ClusterSize bytes);
	// callers with O_DIRECT sources pass an aligned one.
	Buffer []byte
}

// RescueProgress is a snapshot for progress display.
type RescueProgress struct {
	Phase   ddmap.Phase
	Pass    int
	Pos     int64 // position being read
	Size    int64 // size of the source
	Rescued int64 // bytes finished
	Errors  int64 // bytes not (yet) rescued that have failed at least once
}

type rescuer struct {
	ctx      context.Context
	src      io.ReaderAt
	dst      io.WriterAt
	size     int64
	m        *ddmap.Map
	o        RescueOptions
	buf      []byte
	lastSave time.Time

	lastProgress time.Time
}

// progressInterval throttles Progress callbacks.
const progressInterval = 50 * time.Millisecond

// Rescue copies src (size bytes) to dst, recording in m what has been read.
// It resumes from whatever m already says is finished: a map from an
// earlier, interrupted run (ours or ddrescue's) continues where it stopped.
// Phases: copy (large reads, first pass skipping ahead past errors, second
// pass backwards), trim (each failed area's edges, sector by sector, until
// a sector fails), scrape (the rest of failed areas sector by sector) and
// Retries retry passes. Unreadable parts of dst are left untouched.
// Rescue returns nil when it ran to the end, even if sectors stayed bad;
// look at m for the outcome.
func Rescue(ctx context.Context, src io.ReaderAt, size int64, dst io.WriterAt, m *ddmap.Map, o RescueOptions) error {
	if o.SectorSize <= 0 {
		o.SectorSize = DefaultSectorSize
	}
	if o.ClusterSize <= 0 {
		o.ClusterSize = DefaultClusterSize
	}
	o.ClusterSize = max(o.ClusterSize/o.SectorSize, 1) * o.SectorSize
	if o.SaveInterval <= 0 {
		o.SaveInterval = DefaultSaveInterval
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = progressInterval
	}
	if o.Retries < 0 {
		return fmt.Errorf("recover: negative retry count %d", o.Retries)
	}
	buf := o.Buffer
	if int64(len(buf)) < o.ClusterSize {
		buf = make([]byte, o.ClusterSize)
	}
	if m.Size() != size {
		m.Resize(size)
	}
	r := &rescuer{ctx: ctx, src: src, dst: dst, size: size, m: m, o: o, buf: buf[:o.ClusterSize], lastSave: time.Now()}
	err := r.run()
	if serr := r.save(true); err == nil {
		err = serr
	}
	return err
}

func (r *rescuer) run() error {
	// Resume inside the first copy pass at the saved position; later phases
	// simply look for blocks in their state.
	start := int64(0)
	if r.m.Phase == ddmap.Copying && r.m.Pass == 1 {
		start = r.m.Pos
	}
	if r.m.Phase == ddmap.Copying && r.m.Pass <= 1 {
		if err := r.copyForward(start); err != nil {
			return err
		}
	}
	if err := r.copyBackward(); err != nil {
		return err
	}
	if err := r.trim(); err != nil {
		return err
	}
	if err := r.scrape(); err != nil {
		return err
	}
	if err := r.retry(); err != nil {
		return err
	}
	r.m.Phase, r.m.Pos = ddmap.Done, r.size
	return nil
}

// read reads [pos, pos+n) and writes what it got to dst. It returns how
// many leading bytes are good (a whole number of sectors unless it reached
// the end) and the read error, if any. Write errors are fatal and returned
// as fatal.
func (r *rescuer) read(pos, n int64) (good int64, rerr, fatal error) {
	if err := r.ctx.Err(); err != nil {
		return 0, nil, err
	}
	b := r.buf[:n]
	got, err := r.src.ReadAt(b, pos)
	if err == io.EOF && int64(got) == n {
		err = nil
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the source is shorter than its announced size
		}
		got = int(int64(got) / r.o.SectorSize * r.o.SectorSize)
	}
	if got > 0 {
		if _, werr := r.dst.WriteAt(b[:got], pos); werr != nil {
			return 0, nil, fmt.Errorf("recover: write output at byte %d: %w", pos, werr)
		}
	}
	return int64(got), err, nil
}

func (r *rescuer) progress(pos int64) {
	// Totals walk the whole map: on a disc with thousands of bad areas
	// doing that per sector would dominate, so report at most every 50 ms.
	if r.o.Progress == nil || time.Since(r.lastProgress) < r.o.ProgressInterval {
		return
	}
	r.lastProgress = time.Now()
	var done, errs int64
	for _, b := range r.m.Blocks {
		switch b.Status {
		case ddmap.Finished:
			done += b.Size
		case ddmap.NonTrimmed, ddmap.NonScraped, ddmap.BadSector:
			errs += b.Size
		}
	}
	r.o.Progress(RescueProgress{Phase: r.m.Phase, Pass: r.m.Pass, Pos: pos, Size: r.size, Rescued: done, Errors: errs})
}

func (r *rescuer) save(force bool) error {
	if r.o.SaveMap == nil || (!force && time.Since(r.lastSave) < r.o.SaveInterval) {
		return nil
	}
	r.lastSave = time.Now()
	return r.o.SaveMap(r.m)
}

// step is called after every read: it records the position, reports
// progress and saves the map when it is due.
func (r *rescuer) step(pos int64) error {
	r.m.Pos = pos
	r.progress(pos)
	return r.save(false)
}

func (r *rescuer) enter(p ddmap.Phase, pass int) error {
	r.m.Phase, r.m.Pass = p, pass
	return r.save(true)
}

// copyForward is copy pass 1: cluster-sized reads, and after a failure a
// jump ahead (leaving the skipped area non-tried for pass 2) so that a
// damaged region does not eat the time the healthy rest needs.
func (r *rescuer) copyForward(pos int64) error {
	skip := int64(0)
	maxJump := min(int64(maxSkip), max(r.size/100, minSkip))
	maxJump = max(maxJump/r.o.SectorSize, 1) * r.o.SectorSize
	for {
		b, ok := r.m.Next(pos, ddmap.NonTried)
		if !ok {
			return nil
		}
		pos = b.Pos
		n := min(r.o.ClusterSize, b.End()-pos)
		good, rerr, fatal := r.read(pos, n)
		if fatal != nil {
			return fatal
		}
		if good > 0 {
			r.m.Set(pos, good, ddmap.Finished)
		}
		pos += n
		if rerr != nil {
			r.m.Set(pos-n+good, n-good, ddmap.NonTrimmed)
			if skip == 0 {
				skip = minSkip
			} else {
				skip = min(skip*2, maxJump)
			}
			pos += skip
		} else {
			skip = 0
		}
		if err := r.step(min(pos, r.size)); err != nil {
			return err
		}
	}
}

// copyBackward is copy pass 2: every area still non-tried, read from its
// end towards its start, without skipping, so a failed area is approached
// from both sides.
func (r *rescuer) copyBackward() error {
	if err := r.enter(ddmap.Copying, 2); err != nil {
		return err
	}
	end := r.size
	for {
		b, ok := r.m.Prev(end, ddmap.NonTried)
		if !ok {
			return nil
		}
		n := min(r.o.ClusterSize, b.Size)
		pos := b.End() - n
		good, rerr, fatal := r.read(pos, n)
		if fatal != nil {
			return fatal
		}
		if good > 0 {
			r.m.Set(pos, good, ddmap.Finished)
		}
		if rerr != nil {
			r.m.Set(pos+good, n-good, ddmap.NonTrimmed)
		}
		end = pos
		if err := r.step(pos); err != nil {
			return err
		}
	}
}

// sector reads one sector-sized piece at pos (shorter at a block end) and
// marks it finished or st.
func (r *rescuer) sector(pos, limit int64, st ddmap.Status) (bool, error) {
	n := min(r.o.SectorSize, limit-pos)
	good, rerr, fatal := r.read(pos, n)
	if fatal != nil {
		return false, fatal
	}
	if rerr != nil || good < n {
		r.m.Set(pos, n, st)
		return false, r.step(pos)
	}
	r.m.Set(pos, n, ddmap.Finished)
	return true, r.step(pos)
}

// trim reads each non-trimmed area from both edges inwards, sector by
// sector, until a sector fails at each edge; the interior becomes
// non-scraped. Sectors near an error are the likeliest to be bad, so this
// phase finds the good data around errors cheaply.
func (r *rescuer) trim() error {
	if err := r.enter(ddmap.Trimming, 1); err != nil {
		return err
	}
	pos := int64(0)
	for {
		b, ok := r.m.Next(pos, ddmap.NonTrimmed)
		if !ok {
			return nil
		}
		lo, hi := b.Pos, b.End()
		for lo < hi {
			next := min((lo/r.o.SectorSize+1)*r.o.SectorSize, hi)
			ok, err := r.sector(lo, next, ddmap.BadSector)
			if err != nil {
				return err
			}
			lo = next
			if !ok {
				break
			}
		}
		for lo < hi {
			n := hi - (hi-1)/r.o.SectorSize*r.o.SectorSize // piece up to the previous sector boundary
			if n > hi-lo {
				n = hi - lo
			}
			ok, err := r.sector(hi-n, hi, ddmap.BadSector)
			if err != nil {
				return err
			}
			hi -= n
			if !ok {
				break
			}
		}
		if lo < hi {
			r.m.Set(lo, hi-lo, ddmap.NonScraped)
		}
		pos = b.End()
	}
}

// scrape reads every non-scraped area sector by sector.
func (r *rescuer) scrape() error {
	if err := r.enter(ddmap.Scraping, 1); err != nil {
		return err
	}
	pos := int64(0)
	for {
		b, ok := r.m.Next(pos, ddmap.NonScraped)
		if !ok {
			return nil
		}
		for p := b.Pos; p < b.End(); {
			next := min((p/r.o.SectorSize+1)*r.o.SectorSize, b.End())
			if _, err := r.sector(p, next, ddmap.BadSector); err != nil {
				return err
			}
			p = next
		}
		pos = b.End()
	}
}

// retry re-reads bad sectors Retries times.
func (r *rescuer) retry() error {
	for pass := 1; pass <= r.o.Retries; pass++ {
		if err := r.enter(ddmap.Retrying, pass); err != nil {
			return err
		}
		pos := int64(0)
		for {
			b, ok := r.m.Next(pos, ddmap.BadSector)
			if !ok {
				break
			}
			for p := b.Pos; p < b.End(); {
				next := min((p/r.o.SectorSize+1)*r.o.SectorSize, b.End())
				if _, err := r.sector(p, next, ddmap.BadSector); err != nil {
					return err
				}
				p = next
			}
			pos = b.End()
		}
	}
	return nil
}
