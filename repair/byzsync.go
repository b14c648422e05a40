package repair

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/repair/zsync"
)

// Zsync repairs (or creates) the file at path as the file ctl describes,
// reusing every block found in the local copy and fetching the others
// from src, the pinned object ctl was made from.
func Zsync(ctx context.Context, path string, ctl *zsync.Control, src *httpsrc.Source, o Options) (*Result, error) {
	if src.Size() != ctl.Length {
		return nil, fmt.Errorf("%w: the control file describes %d bytes, %s has %d", ErrMismatch, ctl.Length, src.URL(), src.Size())
	}
	res := &Result{Method: "zsync", Size: ctl.Length}
	a, err := newAssembly(path)
	if err != nil {
		return nil, err
	}
	L := int64(ctl.BlockSize)
	if err := a.f.Truncate(int64(ctl.Blocks()) * L); err != nil {
		a.discard()
		return nil, fmt.Errorf("repair: %w", err)
	}
	m := ctl.NewMatcher()

	// Search the local copy, hashing it on the way: a copy that is
	// already the current image needs nothing written at all.
	var localHash []byte
	if f, err := os.Open(path); err == nil {
		st, _ := f.Stat()
		h := ctl.NewFileHash()
		var r io.Reader = f
		if h != nil {
			r = io.TeeReader(f, h)
		}
		_, err = m.Scan(&seedReader{r: r, o: &o, tot: st.Size()}, a.f, nil)
		f.Close()
		if err != nil {
			a.discard()
			return nil, fmt.Errorf("repair: reading %s: %w", path, err)
		}
		if h != nil && st.Size() == ctl.Length {
			localHash = h.Sum(nil)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		a.discard()
		return nil, fmt.Errorf("repair: %w", err)
	}
	if localHash != nil && bytes.Equal(localHash, ctl.FileHash) {
		// The control file's hash is the server's word, unsigned: the
		// copy is unchanged only if the publisher's checksum agrees.
		// If not, the control file describes other bytes than the
		// published image, and none of its checks can be trusted.
		err := o.verify(path)
		if err == nil {
			a.discard()
			res.Unchanged, res.Reused = true, ctl.Length
			return res, nil
		}
		if !errors.Is(err, ErrUnverified) {
			a.discard()
			return res, err
		}
		o.note("the local copy matches the control file's %s but not the published checksum: the control file cannot be trusted; fetching the whole image", ctl.HashName)
		if err := a.f.Truncate(ctl.Length); err != nil {
			a.discard()
			return res, fmt.Errorf("repair: %w", err)
		}
		if err := fetchInto(ctx, src, a, whole(ctl.Length), &o, res); err != nil {
			a.discard()
			return res, err
		}
		if err := settle(ctx, path, src, a, &o, res); err != nil {
			return res, err
		}
		return res, nil
	}
	res.Reused = min(int64(m.Got())*L, ctl.Length)

	// Fetch the rest, each block checked against the control file before
	// it is written.
	var runs []run
	for _, r := range m.Missing() {
		for b := r.First; b < r.End; {
			e := min(r.End, b+int(maxRun/L))
			off := int64(b) * L
			runs = append(runs, run{off, min(int64(e)*L, ctl.Length) - off})
			b = e
		}
	}
	o.note("%d of %d blocks found in the local copy; fetching %d ranges", m.Got(), ctl.Blocks(), len(runs))
	check := func(r run, data []byte) error {
		for p := int64(0); p < r.n; p += L {
			i := int((r.off + p) / L)
			if !ctl.CheckBlock(i, data[p:min(p+L, r.n)]) {
				return fmt.Errorf("%w: block %d (bytes %d-%d) from %s", ErrMismatch, i, r.off+p, r.off+min(p+L, r.n)-1, src.URL())
			}
		}
		return nil
	}
	write := func(r run, data []byte) error {
		if _, err := a.f.WriteAt(data, r.off); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		return nil
	}
	if err := fetchRuns(ctx, src, runs, &o, res, check, write); err != nil {
		a.discard()
		return res, err
	}
	if err := a.f.Truncate(ctl.Length); err != nil {
		a.discard()
		return res, fmt.Errorf("repair: %w", err)
	}

	// The whole file against the control file's hash.
	if h := ctl.NewFileHash(); h != nil {
		if _, err := io.Copy(h, &seedReader{r: io.NewSectionReader(a.f, 0, ctl.Length), o: &Options{Progress: progressAs(&o, "check")}, tot: ctl.Length}); err != nil {
			a.discard()
			return res, fmt.Errorf("repair: %w", err)
		}
		if !bytes.Equal(h.Sum(nil), ctl.FileHash) {
			a.discard()
			return res, fmt.Errorf("%w: the assembled file's %s is not the control file's", ErrMismatch, ctl.HashName)
		}
	} else {
		o.note("the control file has no whole-file hash: each block was checked on its own")
	}
	// Every block checked against the control file can still be the
	// wrong one if the control file is (its checksums are short and
	// unsigned): the published checksum decides, and a whole download
	// is the fallback.
	if err := settle(ctx, path, src, a, &o, res, whole(ctl.Length)); err != nil {
		return res, err
	}
	res.Reused = max(0, res.Size-res.Fetched)
	return res, nil
}

// progressAs reports a seedReader's progress under another phase name.
func progressAs(o *Options, phase string) func(string, int64, int64) {
	return func(_ string, done, total int64) { o.progress(phase, done, total) }
}
