package filecopy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/wim"
)

// ErrMismatch is wrapped when a drive does not hold what the image does.
var ErrMismatch = errors.New("filecopy: the drive differs from the image")

// ErrNoFAT means no FAT file system was found on the drive.
var ErrNoFAT = errors.New("filecopy: no FAT file system on the drive")

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PartStart and PartSize locate the FAT volume; zero means find it
	// through the drive's partition table (or at byte 0).
	PartStart, PartSize int64
	// Own is set for a drive this package has just written: the label,
	// the modification times and each .swm part byte for byte must be as
	// planned. Otherwise (a drive made earlier, perhaps by another tool)
	// a split WIM is checked as a split set of the image's WIM, resource
	// by resource, whatever its part sizes, and extra files are noted.
	Own bool
	// Progress is called with bytes of file data compared so far.
	Progress func(done, total int64)
}

// VerifyResult is what Verify compared.
type VerifyResult struct {
	PartStart, PartSize int64
	Label               string
	Files               int
	Dirs                int
	Bytes               int64
	// Splits describes each split WIM checked as a set.
	Splits []string
	// Problems lists the differences found (the first maxProblems).
	Problems []string
	// Extra lists files on the drive that the image does not have.
	Extra []string
}

const maxProblems = 20

func (r *VerifyResult) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	} else if len(r.Problems) == maxProblems {
		r.Problems = append(r.Problems, "(further differences left out)")
	}
}

// FindFAT locates the FAT volume on a drive: the first partition of its
// MBR or GPT that holds one, or the drive itself.
func FindFAT(drive io.ReaderAt, size int64) (start, length int64, err error) {
	if sa, err := isofmt.ReadSystemArea(drive, size); err == nil && sa != nil {
		for _, p := range sa.Partitions {
			if p.Start <= 0 || p.Size <= 0 || p.Start >= size {
				continue
			}
			n := min(p.Size, size-p.Start)
			if _, err := fatfs.Open(io.NewSectionReader(drive, p.Start, n), n); err == nil {
				return p.Start, n, nil
			}
		}
	}
	if _, err := fatfs.Open(drive, size); err == nil {
		return 0, size, nil
	}
	return 0, 0, ErrNoFAT
}

// Verify reads the FAT volume of a drive back and compares it with the
// plan: every directory present, every file present with the same size
// and the same SHA-256 as its source in the image. The result lists the
// differences; the error is ErrMismatch when there are any, or what kept
// the comparison from running.
func (p *Plan) Verify(ctx context.Context, drive io.ReaderAt, size int64, o VerifyOptions) (*VerifyResult, error) {
	if o.PartSize == 0 {
		var err error
		if o.PartStart, o.PartSize, err = FindFAT(drive, size); err != nil {
			return nil, err
		}
	}
	res := &VerifyResult{PartStart: o.PartStart, PartSize: o.PartSize}
	vol, err := fatfs.Open(io.NewSectionReader(drive, o.PartStart, o.PartSize), o.PartSize)
	if err != nil {
		return nil, fmt.Errorf("filecopy: the FAT volume at byte %d: %w", o.PartStart, err)
	}
	if res.Label, err = vol.Label(); err != nil {
		return nil, fmt.Errorf("filecopy: the FAT volume at byte %d: %w", o.PartStart, err)
	}
	if o.Own && res.Label != p.Label {
		res.problem("volume label %q, the plan says %q", res.Label, p.Label)
	}

	var total int64
	for _, f := range p.Files {
		total += f.Size
	}
	var done int64
	progress := func(n int64) {
		done += n
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	planned := map[string]bool{}
	var walkDirs func(n *fatfs.Node) error
	walkDirs = func(n *fatfs.Node) error {
		for _, c := range n.Children {
			if !c.Dir {
				continue
			}
			p := fatPath(c)
			planned[strings.ToLower(p)] = true
			fi, err := fs.Stat(vol, p)
			switch {
			case err != nil:
				res.problem("directory /%s: %v", p, err)
				continue
			case !fi.IsDir():
				res.problem("/%s is not a directory", p)
				continue
			}
			res.Dirs++
			if err := walkDirs(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walkDirs(p.root); err != nil {
		return res, err
	}

	splitFiles := map[*File]*Split{}
	for _, s := range p.Splits {
		for _, f := range s.Parts {
			splitFiles[f] = s
		}
	}
	checkedSplits := map[*Split]bool{}
	for _, f := range p.Files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if s := splitFiles[f]; s != nil && !o.Own {
			if !checkedSplits[s] {
				checkedSplits[s] = true
				p.checkSplitSet(vol, s.Parts[0].Path, s.Parts[0].Node, s.WIM, s.Size, res, planned)
				for _, q := range s.Parts {
					progress(q.Size)
				}
			}
			continue
		}
		if !o.Own && isSplittable(f.ImagePath) {
			// Another tool (or another part size) may have split a WIM
			// this plan copies whole.
			swm := path.Join(path.Dir(f.Path), strings.TrimSuffix(path.Base(f.Path), path.Ext(f.Path))+".swm")
			if _, err := fs.Stat(vol, f.Path); err != nil {
				if _, err := fs.Stat(vol, swm); err == nil {
					p.checkSplitSet(vol, swm, f.Node, f.ImagePath, f.Size, res, planned)
					progress(f.Size)
					continue
				}
			}
		}
		planned[strings.ToLower(f.Path)] = true
		fi, err := fs.Stat(vol, f.Path)
		if err != nil {
			res.problem("/%s: %v", f.Path, err)
			progress(f.Size)
			continue
		}
		e := fi.Sys().(*fatfs.Entry)
		if e.IsDir() || int64(e.Size) != f.Size {
			res.problem("/%s: %d bytes on the drive, %d in the image", f.Path, fi.Size(), f.Size)
			progress(f.Size)
			continue
		}
		if o.Own && !e.Modified.Equal(fatfs.TruncateTime(f.fat.Modified)) {
			res.problem("/%s: modified %v on the drive, %v in the plan", f.Path, e.Modified, fatfs.TruncateTime(f.fat.Modified))
		}
		fr, err := vol.OpenEntry(e)
		if err != nil {
			res.problem("/%s: %v", f.Path, err)
			progress(f.Size)
			continue
		}
		got, want, err := hashBoth(io.NewSectionReader(fr, 0, f.Size), f.Open(p.Image), progress)
		switch {
		case err != nil:
			return res, fmt.Errorf("filecopy: /%s: %w", f.Path, err)
		case got != want:
			what := "/" + f.ImagePath
			if f.Kind == FromWIMPart {
				what = fmt.Sprintf("part %d of the split of /%s", f.Part.Number, f.ImagePath)
			}
			res.problem("/%s: SHA-256 %x on the drive, %x for %s", f.Path, got[:8], want[:8], what)
		default:
			res.Files++
			res.Bytes += f.Size
		}
	}
	if !o.Own {
		res.Extra = extraFiles(vol, planned)
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(res.Problems, "; "))
	}
	return res, nil
}

// checkSplitSet finds the .swm parts on the drive from firstPart on
// (install.swm, install2.swm, …) and checks them as a split set of the
// image's WIM (node, at wimPath, size bytes).
func (p *Plan) checkSplitSet(vol *fatfs.FS, firstPart string, node *isofmt.Node, wimPath string, size int64, res *VerifyResult, planned map[string]bool) {
	dir := path.Dir(firstPart)
	first := path.Base(firstPart)
	var parts []*wim.WIM
	for n := 1; ; n++ {
		name := path.Join(dir, wim.PartName(first, n))
		fi, err := fs.Stat(vol, name)
		if err != nil {
			break
		}
		planned[strings.ToLower(name)] = true
		e := fi.Sys().(*fatfs.Entry)
		fr, err := vol.OpenEntry(e)
		if err != nil {
			res.problem("/%s: %v", name, err)
			return
		}
		w, err := wim.Open(fr, fr.Size())
		if err != nil {
			res.problem("/%s: %v", name, err)
			return
		}
		parts = append(parts, w)
	}
	if len(parts) == 0 {
		res.problem("/%s: missing (the split of /%s)", path.Join(dir, first), wimPath)
		return
	}
	orig, err := wim.Open(p.Image.OpenNode(node), size)
	if err != nil {
		res.problem("/%s in the image: %v", wimPath, err)
		return
	}
	c, err := wim.CheckSplit(orig, parts)
	if err != nil {
		res.problem("/%s…: not a complete split of /%s: %v", path.Join(dir, first), wimPath, err)
		return
	}
	res.Files += c.Parts
	unit := "parts"
	if c.Parts == 1 {
		unit = "part"
	}
	res.Splits = append(res.Splits, fmt.Sprintf("/%s is split into %d %s (/%s …): all %d resources, %d bytes, identical", wimPath, c.Parts, unit, path.Join(dir, first), c.Resources, c.Bytes))
}

// extraFiles lists files and directories on the volume the plan does not
// have (a drive made by another tool may carry its own, e.g. autorun.inf).
func extraFiles(vol *fatfs.FS, planned map[string]bool) []string {
	var out []string
	fs.WalkDir(vol, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return nil
		}
		if !planned[strings.ToLower(p)] {
			if len(out) < maxProblems {
				out = append(out, "/"+p)
			}
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// hashBoth hashes two readers side by side (the drive and the image are
// usually different devices) and reports progress by the drive's bytes.
func hashBoth(drive, image io.Reader, progress func(int64)) (got, want [32]byte, err error) {
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := sha256.New()
		_, werr = io.CopyBuffer(h, image, make([]byte, 1<<20))
		copy(want[:], h.Sum(nil))
	}()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, rerr := drive.Read(buf)
		h.Write(buf[:n])
		progress(int64(n))
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = fmt.Errorf("reading the drive: %w", rerr)
			break
		}
	}
	copy(got[:], h.Sum(nil))
	wg.Wait()
	if err == nil && werr != nil {
		err = fmt.Errorf("reading the image: %w", werr)
	}
	return got, want, err
}
