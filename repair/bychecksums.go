package repair

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/recover"
)

// sumLists are the per-file checksum lists looked for in the image root.
var sumLists = []string{"md5sum.txt", "MD5SUMS", "SHA256SUMS", "sha256sum.txt"}

// maxList bounds a checksum list read from the remote image.
const maxList = 16 << 20

// fileSum is one file the image's lists give a checksum for.
type fileSum struct {
	name    string
	entry   recover.SumEntry
	extents []isofmt.Extent
	size    int64
	ok      bool // checked good in the assembly
}

// Checksums repairs the local copy at path by the image's own checksums,
// read from the remote image src (the pinned current one, not the copy,
// whose lists may be damaged too): the per-file sums of its md5sum.txt
// (or MD5SUMS, SHA256SUMS) name damaged files, the isomd5sum fragment
// sums the first damaged stretch of the volume; those ranges are fetched
// again and everything is checked again, until all checks pass.
func Checksums(ctx context.Context, path string, src *httpsrc.Source, o Options) (*Result, error) {
	res := &Result{Method: "checksums", Size: src.Size()}
	rimg, err := isofmt.Open(src, src.Size(), nil)
	if err != nil {
		return nil, fmt.Errorf("repair: the remote image: %w", err)
	}
	var md5 *isofmt.ImplantedMD5
	var volSectors int64
	if pvd := rimg.Info().Primary; pvd != nil {
		if m, ok := isofmt.ParseImplantedMD5(pvd.ApplicationUse); ok {
			md5, volSectors = m, pvd.VolumeBytes()/isofmt.SectorSize
		}
	}
	files, err := remoteSums(rimg)
	if err != nil {
		return nil, err
	}
	if md5 == nil && len(files) == 0 {
		return nil, ErrNoChecksums
	}
	local, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("repair: %w (nothing to repair: use fetch)", err)
	}
	st, err := local.Stat()
	if err != nil {
		local.Close()
		return nil, fmt.Errorf("repair: %w", err)
	}
	a, err := newAssembly(path)
	if err != nil {
		local.Close()
		return nil, err
	}
	_, err = io.Copy(a.f, local)
	local.Close()
	if err == nil {
		err = a.f.Truncate(src.Size())
	}
	if err != nil {
		a.discard()
		return nil, fmt.Errorf("repair: copying %s: %w", path, err)
	}

	var fetched []run
	if st.Size() < src.Size() {
		// The copy is cut short: its tail can only come from the server.
		fetched = append(fetched, run{st.Size(), src.Size() - st.Size()})
		if err := fetchInto(ctx, src, a, fetched, &o, res); err != nil {
			a.discard()
			return res, err
		}
		o.note("the local copy is %d bytes short: fetched its tail", src.Size()-st.Size())
	}
	maxPasses := 3
	if md5 != nil {
		maxPasses += md5.FragmentCount
	}
	for pass := 1; ; pass++ {
		if err := ctx.Err(); err != nil {
			a.discard()
			return res, err
		}
		bad, err := nextDamage(a.f, md5, volSectors, files, fetched)
		if err != nil {
			a.discard()
			return res, err
		}
		if bad == nil {
			break
		}
		if len(bad) == 0 {
			a.discard()
			return res, fmt.Errorf("%w: %s: the ranges fetched again still fail the image's checksums", ErrMismatch, src.URL())
		}
		if pass > maxPasses {
			a.discard()
			return res, fmt.Errorf("repair: still damaged after %d passes", maxPasses)
		}
		var n int64
		for _, r := range bad {
			n += r.n
		}
		o.note("pass %d: fetching %d bytes in %d ranges", pass, n, len(bad))
		if err := fetchInto(ctx, src, a, bad, &o, res); err != nil {
			a.discard()
			return res, err
		}
		fetched = merge(append(fetched, bad...), src.Size())
	}
	// The image's sums cover only the files md5sum.txt lists and what
	// the implanted MD5 hashes; the system area, boot images, padding
	// and unlisted files can differ unseen. The published checksum
	// decides: a copy is unchanged only if it passes, and if the result
	// does not, what the listed files' sums do not vouch for (then the
	// whole image) is fetched again.
	unvouched := uncovered(files, src.Size())
	if res.Fetched == 0 && st.Size() == src.Size() {
		err := o.verify(path)
		if err == nil {
			a.discard()
			res.Unchanged, res.Reused = true, src.Size()
			return res, nil
		}
		if !errors.Is(err, ErrUnverified) {
			a.discard()
			return res, err
		}
		o.note("the local copy passes the image's own sums but not the published checksum: fetching the %d ranges they cannot vouch for", len(unvouched))
		if err := fetchInto(ctx, src, a, unvouched, &o, res); err != nil {
			a.discard()
			return res, err
		}
		unvouched = nil
	}
	fallbacks := [][]run{whole(src.Size())}
	if unvouched != nil {
		fallbacks = [][]run{unvouched, whole(src.Size())}
	}
	if err := settle(ctx, path, src, a, &o, res, fallbacks...); err != nil {
		return res, err
	}
	res.Reused = max(0, src.Size()-res.Fetched)
	return res, nil
}

// uncovered returns the ranges of an image of size bytes outside the
// extents of the files whose sums were checked.
func uncovered(files []*fileSum, size int64) []run {
	var cov []run
	for _, fsum := range files {
		var pos int64
		for _, e := range fsum.extents {
			n := min(e.Length, fsum.size-pos)
			if n > 0 && !e.Sparse {
				cov = append(cov, run{e.Offset, n})
			}
			pos += n
		}
	}
	var out []run
	for _, r := range subtract(whole(size), cov) {
		if e := min(r.off+r.n, size); e > r.off {
			out = append(out, run{r.off, e - r.off})
		}
	}
	return out
}

// remoteSums reads the per-file checksum lists of the remote image and
// locates each file named.
func remoteSums(img *isofmt.Image) ([]*fileSum, error) {
	var out []*fileSum
	seen := map[string]bool{}
	for _, list := range sumLists {
		fi, err := img.Stat(list)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxList {
			continue
		}
		f, err := img.Open(list)
		if err != nil {
			continue
		}
		entries, err := recover.ParseSums(io.LimitReader(f, maxList))
		f.Close()
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := path.Clean(strings.TrimPrefix(strings.ReplaceAll(e.Name, `\`, "/"), "/"))
			if seen[name] || !fs.ValidPath(name) {
				continue
			}
			fi, err := img.Stat(name)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			s, ok := fi.Sys().(*isofmt.Stat)
			if !ok || s.Zisofs != nil || recover.NewHash(e.Algo) == nil {
				continue // compressed data cannot be hashed in place
			}
			seen[name] = true
			out = append(out, &fileSum{name: name, entry: e, extents: s.Extents, size: s.Size})
		}
	}
	return out, nil
}

// nextDamage checks the assembly and returns what to fetch next (not
// yet fetched), nil when every check passes, or an empty list when what
// fails was fetched already (the server's data does not match its own
// sums). The implanted MD5 places the first damaged stretch (a fragment,
// ~1/21 of the volume); of it, only the damaged files' extents are
// fetched first when the damage lies in files, the whole stretch when it
// does not. Without the MD5 (or once it passes), damaged files are
// fetched whole.
func nextDamage(f *os.File, md5 *isofmt.ImplantedMD5, volSectors int64, files []*fileSum, fetched []run) ([]run, error) {
	filesBad, err := damagedFiles(f, files)
	if err != nil {
		return nil, err
	}
	if md5 != nil {
		res, err := md5.Check(f, volSectors, nil)
		switch {
		case res == nil:
			return nil, fmt.Errorf("repair: implanted MD5: %w", err)
		case res.FirstBadFragment >= 0:
			frag := run{res.BadRange[0], res.BadRange[1] - res.BadRange[0]}
			if in := subtract(intersect(filesBad, frag), fetched); len(in) > 0 {
				return in, nil
			}
			return subtract([]run{frag}, fetched), nil
		case !res.OK:
			// The last stretch has no fragment sum after it.
			return nil, fmt.Errorf("%w: the implanted MD5 fails with no fragment to place the damage in", ErrNoChecksums)
		}
	}
	if len(filesBad) == 0 {
		return nil, nil
	}
	return subtract(filesBad, fetched), nil
}

// damagedFiles hashes the files not yet found good and returns the
// extents of those whose sums differ.
func damagedFiles(f *os.File, files []*fileSum) ([]run, error) {
	var bad []run
	for _, fsum := range files {
		if fsum.ok {
			continue
		}
		h := recover.NewHash(fsum.entry.Algo)
		var pos int64
		for _, e := range fsum.extents {
			n := min(e.Length, fsum.size-pos)
			if n <= 0 {
				break
			}
			if e.Sparse {
				io.CopyN(h, zeroReader{}, n)
			} else if _, err := io.Copy(h, io.NewSectionReader(f, e.Offset, n)); err != nil {
				return nil, fmt.Errorf("repair: reading %s: %w", fsum.name, err)
			}
			pos += n
		}
		if bytes.Equal(h.Sum(nil), fsum.entry.Sum) {
			fsum.ok = true
			continue
		}
		pos = 0
		for _, e := range fsum.extents {
			n := min(e.Length, fsum.size-pos)
			if n > 0 && !e.Sparse {
				bad = append(bad, run{e.Offset, n})
			}
			pos += n
		}
	}
	return bad, nil
}

// intersect returns the parts of rs inside w.
func intersect(rs []run, w run) []run {
	var out []run
	for _, r := range rs {
		lo, hi := max(r.off, w.off), min(r.off+r.n, w.off+w.n)
		if hi > lo {
			out = append(out, run{lo, hi - lo})
		}
	}
	return out
}

// subtract returns the parts of rs (widened to whole sectors) outside
// the ranges in done.
func subtract(rs []run, done []run) []run {
	rs = merge(rs, 1<<62)
	var out []run
	for _, r := range rs {
		parts := []run{r}
		for _, d := range done {
			var next []run
			for _, p := range parts {
				if d.off >= p.off+p.n || d.off+d.n <= p.off {
					next = append(next, p)
					continue
				}
				if d.off > p.off {
					next = append(next, run{p.off, d.off - p.off})
				}
				if e := d.off + d.n; e < p.off+p.n {
					next = append(next, run{e, p.off + p.n - e})
				}
			}
			parts = next
		}
		out = append(out, parts...)
	}
	return out
}

// merge sorts runs, widens them to whole sectors inside [0, size) and
// joins those that touch.
func merge(rs []run, size int64) []run {
	for i := range rs {
		lo := rs[i].off / isofmt.SectorSize * isofmt.SectorSize
		hi := min((rs[i].off+rs[i].n+isofmt.SectorSize-1)/isofmt.SectorSize*isofmt.SectorSize, size)
		rs[i] = run{lo, hi - lo}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].off < rs[j].off })
	var out []run
	for _, r := range rs {
		if r.n <= 0 {
			continue
		}
		if n := len(out); n > 0 && r.off <= out[n-1].off+out[n-1].n {
			out[n-1].n = max(out[n-1].n, r.off+r.n-out[n-1].off)
			continue
		}
		out = append(out, r)
	}
	return out
}

// fetchInto downloads runs (split into requests of at most maxRun) into
// the assembly.
func fetchInto(ctx context.Context, src *httpsrc.Source, a *assembly, runs []run, o *Options, res *Result) error {
	var parts []run
	for _, r := range runs {
		for p := r.off; p < r.off+r.n; p += maxRun {
			parts = append(parts, run{p, min(maxRun, r.off+r.n-p)})
		}
	}
	return fetchRuns(ctx, src, parts, o, res, func(run, []byte) error { return nil }, func(r run, data []byte) error {
		if _, err := a.f.WriteAt(data, r.off); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		return nil
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
