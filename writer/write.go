package writer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/writer/filecopy"
)

// checkBlock is the verify granularity: one CRC-32C per 4 KiB of image.
const checkBlock = 4096

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooSmall is wrapped when a stream turns out larger than a target.
var ErrTooSmall = errors.New("writer: target too small")

// ErrVerify is wrapped when the read-back differs from what was written.
var ErrVerify = errors.New("writer: verify failed")

// chunk is one block of the image on its way to every target.
type chunk struct {
	buf  []byte // the data, a prefix of own
	own  []byte // this chunk's aligned buffer, allocated on first use
	n    int
	off  int64
	refs atomic.Int32
}

// release returns c to the free pool.
func (c *chunk) release(free chan<- *chunk) {
	c.buf = nil
	free <- c
}

// job is one target during Execute.
type job struct {
	t       *Target
	res     *Result
	s       sink
	cap     int64 // device capacity, -1 for files
	ch      chan *chunk
	scratch []byte // one aligned logical block for read-modify-write tails
	done    atomic.Int64
	// patches were written after the stream (file-copy mode); verify
	// compares them where the stream had zeros.
	patches []filecopy.Patch
}

// numBuffers is how many blocks are in flight: double buffering (the
// reader fills one while the writer writes the other) plus one, and one
// more per extra target so that targets of different speed can drift
// apart a little; bounded to 64 MiB of buffers (but at least two). More
// read-ahead does not help: the writer, not the reader, is the bottleneck
// (docs/benchmarks.md).
func numBuffers(bs, targets int) int {
	n := 2 + targets
	if lim := (64 << 20) / bs; n > lim {
		n = lim
	}
	if n < 2 {
		n = 2
	}
	return n
}

// Execute writes the plan. Each target gets its own Result; a target that
// fails is dropped and the others finish; a cancelled context fails every
// target. The error is non-nil only when nothing could be attempted (a
// refused plan, a block size a target cannot take); check Report.Failed
// for per-target failures.
//
// The phases: open every target (openJobs), one reader streams the source
// into a small pool of aligned buffers and checksums it (readSource), one
// writer per target drains its queue (drain), then each target is synced
// and verified (job.finish), and the implanted MD5 is checked on one
// verified target.
func (p *Plan) Execute(ctx context.Context) (*Report, error) {
	defer p.Close()
	if err := p.Err(); err != nil {
		return nil, err
	}
	rep := &Report{}
	jobs := p.openJobs(rep)
	defer func() {
		for _, j := range jobs {
			if err := j.s.Close(); err != nil && j.res.Err == nil {
				j.res.Err = fmt.Errorf("%s: close: %w", j.t.Path, err)
			}
		}
	}()
	if len(jobs) == 0 {
		return rep, nil
	}
	x, err := p.newExecution(ctx, jobs)
	if err != nil {
		return nil, err
	}
	go x.readSource()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x.drain(j)
		}()
	}
	wg.Wait()
	<-x.readerDone
	rep.Size = x.total
	if p.Image.MD5 != nil && !p.opts.NoVerify && p.Mode != ModeFiles {
		for _, j := range jobs {
			if j.res.Verified {
				rep.ImplantedMD5 = p.checkImplantedMD5(j.t.Path, newDirectReaderAt(j.s, p.opts.BlockSize))
				break
			}
		}
	}
	return rep, nil
}

// openJobs opens every target; one that cannot be opened gets its failed
// Result and no job.
func (p *Plan) openJobs(rep *Report) []*job {
	log := p.opts.Log
	var jobs []*job
	for _, t := range p.Targets {
		res := &Result{Target: t.Path, BadOffset: -1}
		rep.Results = append(rep.Results, res)
		j, err := p.open(t)
		if err != nil {
			res.Err = err
			log.Warnf("%s: %v", t.Path, err)
			p.progress(Progress{Target: t.Path, Phase: PhaseFailed, Total: p.Source.Size, Err: err})
			continue
		}
		j.res = res
		if p.Disk != nil {
			if err := p.prologue(j); err != nil {
				j.s.Close()
				res.Err = err
				log.Warnf("%s: %v", t.Path, err)
				p.progress(Progress{Target: t.Path, Phase: PhaseFailed, Total: p.Source.Size, Err: err})
				continue
			}
		}
		res.Direct = j.s.Direct()
		if !j.s.Direct() {
			log.Infof("%s: direct I/O refused, using buffered I/O", t.Path)
		}
		if p.opts.hooks != nil && p.opts.hooks.wrapSink != nil {
			j.s = p.opts.hooks.wrapSink(t.Path, j.s)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// execution is the state one Execute shares between its reader and its
// target writers.
type execution struct {
	p     *Plan
	ctx   context.Context
	jobs  []*job
	bs    int
	free  chan *chunk // buffers not in use
	start time.Time
	live  atomic.Int32 // targets still writing; the reader stops at 0

	// Written by the reader only, read once readerDone is closed.
	sums       []uint32 // CRC-32C per checkBlock of the image, when verifying
	total      int64
	srcErr     error
	readerDone chan struct{}
}

// newExecution checks the block size against every target and sets up
// the buffer pool and the queues.
func (p *Plan) newExecution(ctx context.Context, jobs []*job) (*execution, error) {
	bs := p.opts.BlockSize
	for _, j := range jobs {
		if err := checkBlockSize(bs, j.s.BlockSize()); err != nil {
			return nil, fmt.Errorf("%s: %w", j.t.Path, err)
		}
	}
	nbuf := numBuffers(bs, len(jobs))
	x := &execution{p: p, ctx: ctx, jobs: jobs, bs: bs, free: make(chan *chunk, nbuf), start: time.Now(), readerDone: make(chan struct{})}
	for i := 0; i < nbuf; i++ {
		x.free <- &chunk{}
	}
	for _, j := range jobs {
		j.ch = make(chan *chunk, nbuf)
		j.scratch = diskio.AlignedBuffer(roundUp(j.s.BlockSize(), diskio.Align))
	}
	if !p.opts.NoVerify && p.Source.Size > 0 {
		x.sums = make([]uint32, 0, (p.Source.Size+checkBlock-1)/checkBlock)
	}
	x.live.Store(int32(len(jobs)))
	return x, nil
}

// readSource makes one pass over the source, into free buffers, out to
// every target's queue. Checksums are taken here, once for all targets,
// while each piece is still in the CPU cache.
func (x *execution) readSource() {
	p := x.p
	defer close(x.readerDone)
	defer func() {
		for _, j := range x.jobs {
			close(j.ch)
		}
	}()
	var sum func([]byte)
	if !p.opts.NoVerify {
		sum = func(b []byte) {
			for k := 0; k < len(b); k += checkBlock {
				x.sums = append(x.sums, crc32.Checksum(b[k:min(k+checkBlock, len(b))], castagnoli))
			}
		}
	}
	var off int64
	for {
		if x.live.Load() == 0 {
			x.total = off
			return
		}
		var c *chunk
		select {
		case c = <-x.free:
		case <-x.ctx.Done():
			x.srcErr = x.ctx.Err()
			return
		}
		n, err := p.Source.fill(c, x.bs, sum)
		if n > 0 {
			c.n, c.off = n, off
			off += int64(n)
			c.refs.Store(int32(len(x.jobs)))
			for _, j := range x.jobs {
				j.ch <- c
			}
		} else {
			c.release(x.free)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			x.total = off
			if p.Source.Size >= 0 && x.total != p.Source.Size {
				x.srcErr = fmt.Errorf("%s ended at byte %d, but it had %d bytes when opened: did it change while being written?", p.Source.Name, x.total, p.Source.Size)
			}
			return
		}
		if err != nil {
			x.srcErr = fmt.Errorf("reading %s at byte %d: %w", p.Source.Name, off+int64(n), err)
			return
		}
	}
}

// drain writes every chunk queued for j, dropping j (and telling the
// reader) at its first failure, then syncs and verifies it once the
// reader is done.
func (x *execution) drain(j *job) {
	p := x.p
	for c := range j.ch {
		if j.res.Err == nil {
			if err := x.ctx.Err(); err != nil {
				j.res.Err = err
				x.live.Add(-1)
			} else if err := j.writeChunk(c); err != nil {
				j.res.Err = err
				x.live.Add(-1)
				p.opts.Log.Warnf("%s: %v; dropping this target", j.t.Path, err)
				p.progress(Progress{Target: j.t.Path, Phase: PhaseFailed, Done: j.done.Load(), Total: p.Source.Size, Err: err})
			} else {
				d := j.done.Add(int64(c.n))
				p.progress(Progress{Target: j.t.Path, Phase: PhaseWrite, Done: d, Total: p.Source.Size,
					InputDone: p.Source.Consumed(), InputTotal: p.Source.InputSize})
			}
		}
		if c.refs.Add(-1) == 0 {
			c.release(x.free)
		}
	}
	<-x.readerDone
	if x.srcErr != nil && j.res.Err == nil {
		j.res.Err = x.srcErr
	}
	if j.res.Err != nil {
		return
	}
	j.finish(p, x.ctx, x.total, x.sums, x.start)
}

// writeChunk writes one block at its offset. Under direct I/O a final
// block shorter than the logical block size is written as a whole block:
// devices get a read-modify-write of that block, files are padded and
// truncated at the end.
func (j *job) writeChunk(c *chunk) error {
	end := c.off + int64(c.n)
	if j.cap >= 0 && end > j.cap {
		return fmt.Errorf("%w: the image is larger than %s (%d bytes)", ErrTooSmall, units.Bytes(j.cap), j.cap)
	}
	if j.cap < 0 && allZero(c.buf[:c.n]) {
		// A file target was created empty: a block of zeros stays a hole
		// (VM disks and test drives stay sparse). Finish sets its size.
		return nil
	}
	lbs := j.s.BlockSize()
	n := c.n
	if !j.s.Direct() || n%lbs == 0 {
		if _, err := j.s.WriteAt(c.buf[:n], c.off); err != nil {
			return fmt.Errorf("writing at byte %d: %w", c.off, err)
		}
		return nil
	}
	aligned := n / lbs * lbs
	if aligned > 0 {
		if _, err := j.s.WriteAt(c.buf[:aligned], c.off); err != nil {
			return fmt.Errorf("writing at byte %d: %w", c.off, err)
		}
	}
	blk := j.scratch[:lbs]
	clear(blk)
	if j.cap >= 0 {
		if _, err := j.s.ReadAt(blk, c.off+int64(aligned)); err != nil {
			return fmt.Errorf("reading the last block at byte %d: %w", c.off+int64(aligned), err)
		}
	}
	copy(blk, c.buf[aligned:n])
	if _, err := j.s.WriteAt(blk, c.off+int64(aligned)); err != nil {
		return fmt.Errorf("writing at byte %d: %w", c.off+int64(aligned), err)
	}
	return nil
}

// finish syncs, then verifies one target.
func (j *job) finish(p *Plan, ctx context.Context, total int64, sums []uint32, start time.Time) {
	res := j.res
	res.Written = total
	p.progress(Progress{Target: j.t.Path, Phase: PhaseSync, Done: total, Total: total})
	size := total
	if p.Disk != nil {
		size = p.Disk.Size // a file target is the whole drive
	}
	if err := j.s.Truncate(size); err != nil {
		res.Err = fmt.Errorf("truncating to %d bytes: %w", size, err)
		return
	}
	if err := j.s.Sync(); err != nil {
		res.Err = fmt.Errorf("sync: %w", err)
		return
	}
	if p.Disk != nil {
		if err := p.commit(j); err != nil {
			res.Err = err
			p.progress(Progress{Target: j.t.Path, Phase: PhaseFailed, Done: total, Total: total, Err: err})
			return
		}
	}
	res.WriteTime = time.Since(start)
	p.opts.Log.Debugf("%s: wrote %d bytes in %v", j.t.Path, total, res.WriteTime)
	if p.opts.NoVerify {
		p.progress(Progress{Target: j.t.Path, Phase: PhaseDone, Done: total, Total: total})
		return
	}
	if h := p.opts.hooks; h != nil && h.beforeVerify != nil {
		if err := h.beforeVerify(j.t.Path); err != nil {
			res.Err = err
			return
		}
	}
	vstart := time.Now()
	bad, exact, err := j.verify(p, ctx, total, sums)
	switch {
	case err != nil:
		res.Err = err
	case bad >= 0:
		res.BadOffset = bad
		where := fmt.Sprintf("at byte %d", bad)
		if !exact {
			where = fmt.Sprintf("in the %d-byte block at byte %d", checkBlock, bad)
		}
		res.Err = fmt.Errorf("%w: %s differs from the image %s (512-byte sector %d)", ErrVerify, j.t.Path, where, bad/512)
	case p.Disk != nil:
		if res.Err = p.verifyFileCopy(ctx, j); res.Err == nil {
			res.Verified = true
		}
	default:
		res.Verified = true
	}
	res.VerifyTime = time.Since(vstart)
	if res.Err != nil {
		p.progress(Progress{Target: j.t.Path, Phase: PhaseFailed, Done: total, Total: total, Err: res.Err})
		return
	}
	p.progress(Progress{Target: j.t.Path, Phase: PhaseDone, Done: total, Total: total})
}

func (p *Plan) progress(pr Progress) {
	if p.opts.Progress != nil {
		p.opts.Progress(pr)
	}
}
