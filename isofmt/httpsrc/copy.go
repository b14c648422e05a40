package httpsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
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
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close cuts downloads too
	defer stop()
	lo, hi := pos, end-1
	var stalled atomic.Bool
	timer := time.AfterFunc(s.timeout, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	wrap := func(err error) error {
		err = stripURL(err)
		if stalled.Load() {
			return &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: no progress for %v: %w", s.name, lo, hi, s.timeout, err)}
		}
		if ctx.Err() != nil {
			return err
		}
		return &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: %w", s.name, lo, hi, err)}
	}
	resp, err := s.fetch(rctx, Request{First: lo, Last: hi, IfRange: s.ifRange})
	if err != nil {
		var rs *retryableStatus
		if errors.As(err, &rs) {
			return pos, err
		}
		return pos, wrap(err)
	}
	defer resp.Body.Close()
	if err := s.checkResponse(resp, lo, hi); err != nil {
		return pos, err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for pos < end {
		want := min(int64(len(buf)), end-pos)
		n, rerr := io.ReadFull(resp.Body, buf[:want])
		s.st.bytes.Add(int64(n))
		if n > 0 {
			timer.Reset(s.timeout)
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
				return pos, &netError{fmt.Errorf("httpsrc: %s: bytes %d-%d: body ended at byte %d: %w", s.name, lo, hi, pos, ErrProtocol)}
			}
			return pos, wrap(rerr)
		}
	}
	return pos, nil
}
