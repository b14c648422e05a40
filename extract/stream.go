package extract

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// Stream writes the contents of the regular files that o selects to w,
// one after the other in the order of the walk (like bsdtar -xO or
// 7z e -so): o.Include, o.Exclude and o.Boot select, o.Report and
// o.Progress are used, the rest is ignored. A file that cannot be read to
// its end is reported (Failed) after the bytes read before the damage;
// the next one follows. An error writing to w or a cancelled ctx stops
// it.
func Stream(ctx context.Context, img *isofmt.Image, w io.Writer, o Options) (*Result, error) {
	start := time.Now()
	o.Filter, o.Workers = nil, 1
	x, err := plan(ctx, img, o)
	if err != nil {
		return nil, err
	}
	var files []*entry
	var total int64
	for _, e := range x.plan {
		if e.isRegular() {
			files = append(files, e)
			total += e.size()
		}
	}
	if o.Progress != nil {
		o.Progress.Start(total)
	}
	buf := make([]byte, copyBufSize)
	for _, e := range files {
		if err := ctx.Err(); err != nil {
			res := x.result(start)
			res.Interrupted = true
			return res, err
		}
		var r io.ReaderAt = e.data
		if e.node != nil {
			r = img.OpenNode(e.node)
		}
		for off := int64(0); off < e.size(); {
			n, rerr := r.ReadAt(buf[:min(int64(len(buf)), e.size()-off)], off)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return x.result(start), fmt.Errorf("writing %s: %w", e.rel, werr)
				}
				off += int64(n)
				x.bytes.Add(int64(n))
				if o.Progress != nil {
					o.Progress.Add(int64(n))
				}
			}
			if rerr != nil && !(rerr == io.EOF && off == e.size()) {
				if rerr == io.EOF {
					rerr = fmt.Errorf("file ends at byte %d, %d expected: %w", off, e.size(), isofmt.ErrTruncated)
				}
				x.fail(e, fmt.Errorf("%w (%d of %d bytes written)", rerr, off, e.size()))
				break
			}
		}
		if e.state.Load() == pending {
			e.state.Store(done)
		}
	}
	x.imageProblems()
	return x.result(start), nil
}
