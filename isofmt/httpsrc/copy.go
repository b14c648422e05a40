package httpsrc

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// copyBufSize is the chunk CopyRange moves from a response body to the
// writer at a time.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// CopyRange writes bytes [off, off+n) of the object to w at the same
// offsets, streaming one ranged request into w with no cache: downloads
// and repairs read each byte once. Like reads, it checks every answer
// against the pinned object (a replaced object fails with ErrChanged),
// cuts requests that make no progress for Options.Timeout, and retries
// failures with backoff, resuming after the last byte written; progress
// (if set) is called with each count of bytes written. Bytes before a
// failure may have been written.
func (s *Source) CopyRange(ctx context.Context, w io.WriterAt, off, n int64, progress func(int64)) error {
	if off < 0 || n < 0 || off > s.size-n {
		return fmt.Errorf("httpsrc: %s: range %d+%d outside the object's %d bytes", s.name, off, n, s.size)
	}
	pos, end := off, off+n
	for attempt := 0; pos < end; attempt++ {
		next, err := s.copyOnce(ctx, w, pos, end, progress)
		if next-pos >= copyBufSize {
			attempt = 0 // real progress: a flaky link is not a dead one
		}
		pos = next
		if err == nil {
			continue
		}
		if !retryable(err) || attempt >= s.retries || ctx.Err() != nil || s.ctx.Err() != nil {
			if s.ctx.Err() != nil {
				return fmt.Errorf("%w (%v)", ErrClosed, err)
			}
			return err
		}
		s.st.retries.Add(1)
		if !sleepCtx(ctx, s.backoff(attempt)) {
			return ctx.Err()
		}
	}
	return nil
}

// copyOnce sends one request for [pos, end) and writes what arrives; it
// returns the position reached.
func (s *Source) copyOnce(ctx context.Context, w io.WriterAt, pos, end int64, progress func(int64)) (int64, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return pos, ctx.Err()
	case <-s.ctx.Done():
		return pos, ErrClosed
	}
	defer func() { <-s.sem }()
	rr, err := s.request(ctx, ctx, pos, end-1)
	if err != nil {
		return pos, err
	}
	defer rr.close()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for pos < end {
		want := min(int64(len(buf)), end-pos)
		n, rerr := io.ReadFull(rr.body, buf[:want])
		rr.got(n)
		if n > 0 {
			if _, err := w.WriteAt(buf[:n], pos); err != nil {
				return pos, fmt.Errorf("httpsrc: %s: writing bytes %d-%d: %w", s.name, pos, pos+int64(n)-1, err)
			}
			pos += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if rerr != nil && pos < end {
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				return pos, rr.cut(pos)
			}
			return pos, rr.wrap(rerr)
		}
	}
	return pos, nil
}
