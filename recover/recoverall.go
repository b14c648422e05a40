package recover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Recovered is one image written out by Recover, with its verdict.
type Recovered struct {
	*Found
	// Name is the file's original name, when a file system kept it.
	Name   string `json:"name,omitempty"`
	Path   string `json:"path,omitempty"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	// Method is how the bytes were gathered: "contiguous" (the image read
	// as one run from its start) or "ext4 extents" (its block list found in
	// an old copy of its inode, in the ext4 journal).
	Method string        `json:"method,omitempty"`
	Verify *VerifyReport `json:"verify,omitempty"`
	// Wrong lists image byte ranges the image's own structure and
	// checksums show to contain damage: a failed MD5 fragment, the data of
	// a file whose checksum failed, a missing tail. For a fragmented file
	// that is where another file's data took the place of the image's.
	Wrong []Range `json:"wrong,omitempty"`
	// Attempts says what else was tried and why it was not used.
	Attempts []string `json:"attempts,omitempty"`
	Error    string   `json:"error,omitempty"`
	// FSFile is the file system's record of the deleted file (undelete).
	FSFile *fsmeta.File `json:"fs_file,omitempty"`
	// Contains lists images found inside this one's span (offsets on the
	// source) that are not files of it: evidence that it is fragmented.
	Contains []int64 `json:"contains,omitempty"`
	// InsideFile names the file of the enclosing image (NestedIn) this
	// image is, when it is one.
	InsideFile string `json:"inside_file,omitempty"`
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	// OutDir receives the images; the caller has checked it is not on the source.
	OutDir string
	// External is a checksum list given by the user (--sums).
	External []SumEntry
	// Progress reports long steps: stage names the step and image.
	Progress func(stage string, done, total int64)
}

// Recover writes each found image to OutDir and validates it. An image
// that starts inside another's span is never hidden: when it is a file of
// the outer image (an ISO stored in an ISO) it is reported as that file;
// otherwise it is evidence that the outer image is fragmented — the bytes
// there are not the outer image's — and an outer image no checksum
// proved is reported damaged there, with the files that lie on those
// bytes. When an image proves damaged and the source holds an ext4 or
// FAT file system, Recover asks it where the pieces were (old inode
// copies in the journal, the free clusters after the first) and, if
// reassembling the file that way verifies better, keeps that instead.
func Recover(ctx context.Context, src io.ReaderAt, size int64, found []*Found, o RecoverOptions) ([]*Recovered, error) {
	var out []*Recovered
	var fsx *ext4Sources // located lazily, once
	var fat []*fatVolume
	for i, f := range found {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r := &Recovered{Found: f, Method: "contiguous"}
		if f.Broken != "" {
			r.Status = StatusDamaged
			r.Note = fmt.Sprintf("%s volume descriptors at byte %d, but the image does not open (%s): its other structures are not where a contiguous image has them — fragmented or overwritten; nothing written", f.Kind, f.Offset, f.Broken)
			out = append(out, r)
			continue
		}
		r.Path = filepath.Join(o.OutDir, carveFileName(i, f))
		err := writeImage(ctx, r.Path, f.Available, func(w io.Writer, progress func(int64)) error {
			return copyRange(ctx, src, f.Offset, f.Available, w, progress)
		}, o.Progress)
		if err != nil {
			r.Status, r.Error = StatusDamaged, err.Error()
			out = append(out, r)
			continue
		}
		r.Verify, err = verifyPathWith(ctx, r.Path, VerifyOptions{AnyName: true, External: o.External}, o.Progress)
		if err != nil {
			r.Status, r.Error = StatusDamaged, err.Error()
		} else {
			r.Status, r.Note = Judge(f, r.Verify)
			r.Wrong = wrongRanges(r.Verify)
		}
		if r.Status == StatusDamaged || r.Status == StatusTruncated {
			// The file system around the image may know where its
			// pieces are.
			if fsx == nil {
				fsx, fat = findExt4(src, size), findFAT(src, size)
			}
			if !tryExt4(ctx, src, size, fsx, r, o) && !tryFAT(ctx, src, size, fat, r, o) && len(r.Attempts) == 0 {
				r.Attempts = append(r.Attempts, "no ext2/3/4 or FAT file system around the image: its missing pieces cannot be located")
			}
		}
		out = append(out, r)
	}
	// Every image whose span holds another's start: not only the first
	// (NestedIn), since an image nested in a fragmented one may itself
	// hold the start of a third.
	for _, inner := range out {
		for _, outer := range out {
			if outer != inner && outer.Broken == "" && inner.Offset > outer.Offset && inner.Offset < outer.Offset+outer.Size {
				nestedEvidence(outer, inner)
			}
		}
	}
	return out, nil
}

// nestedEvidence decides what an image found inside outer's span means.
func nestedEvidence(outer, inner *Recovered) {
	rel := inner.Offset - outer.Offset
	if outer.Path != "" {
		if p := fileAt(outer.Path, rel); p != "" {
			inner.InsideFile = p
			inner.Note = strings.TrimPrefix(inner.Note+"; ", "; ") + fmt.Sprintf("stored in image %q at byte %d as file %s", outer.Label, outer.Offset, p)
			return
		}
	}
	outer.Contains = append(outer.Contains, inner.Offset)
	msg := fmt.Sprintf("image %q found at byte %d lies inside this image's span and is no file of it: this image is fragmented, and bytes %d-%d of the contiguous copy are not its own", inner.Label, inner.Offset, rel, rel+inner.Size-1)
	if outer.Status == StatusExact {
		// A checksum proved the outer image whole: the inner one sits in
		// its free space. Say so, change nothing.
		outer.Attempts = append(outer.Attempts, fmt.Sprintf("image %q at byte %d lies inside this one's span; the checksum shows this image whole regardless", inner.Label, inner.Offset))
		return
	}
	outer.Attempts = append(outer.Attempts, msg)
	bad := Range{rel, min(inner.Size, outer.Size-rel)}
	outer.Wrong = normalise(append(outer.Wrong, bad))
	if outer.Status == StatusLikely {
		outer.Status = StatusDamaged
		outer.Note = msg
		if img, err := isofmt.OpenFile(outer.Path, nil); err == nil {
			if d, err := Damage(img, []Range{bad}, "its bytes on the source belong to another image"); err == nil && outer.Verify != nil {
				outer.Verify.Files = d
			}
			img.Close()
		}
	}
}

// fileAt returns the path of the file of the image at path whose data
// starts at image byte off, "" if none.
func fileAt(path string, off int64) string {
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		return ""
	}
	defer img.Close()
	var hit string
	walkImage(img, func(p string, n *isofmt.Node) error {
		if ext := n.Stat.Extents; n.Stat.Mode.IsRegular() && len(ext) > 0 && !ext[0].Sparse && ext[0].Offset == off {
			hit = p
			return errStopWalk
		}
		return nil
	}, func(string, error) {})
	return hit
}

var errStopWalk = errors.New("stop")

// writeImage creates path (never overwriting) and fills it with fill.
func writeImage(ctx context.Context, path string, total int64, fill func(io.Writer, func(int64)) error, progress func(string, int64, int64)) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	stage := "write " + filepath.Base(path)
	err = fill(out, func(done int64) {
		if progress != nil {
			progress(stage, done, total)
		}
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// copyRange copies n bytes of src at off to w.
func copyRange(ctx context.Context, src io.ReaderAt, off, n int64, w io.Writer, progress func(int64)) error {
	buf := make([]byte, 4<<20)
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(int64(len(buf)), n-done)
		got, err := src.ReadAt(buf[:k], off+done)
		if int64(got) < k {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("recover: reading source at byte %d: %w", off+done+int64(got), err)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		done += k
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

// carveFileName names a recovered image after its position and label.
func carveFileName(i int, f *Found) string {
	label := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, strings.TrimSpace(f.Label))
	if len(label) > 40 {
		label = label[:40]
	}
	if label == "" {
		label = f.Kind
	}
	return fmt.Sprintf("%02d-at-%d-%s.iso", i+1, f.Offset, label)
}

// wrongRanges is what a verify report shows to be wrong in an image: its
// bad ranges (missing tail, failed MD5 fragment) and the data of files
// whose checksums failed.
func wrongRanges(rep *VerifyReport) []Range {
	rs := append([]Range(nil), rep.BadRanges...)
	if rep.Files != nil {
		for _, f := range rep.Files.Damaged {
			if f.Suspect {
				continue
			}
			for _, fr := range f.Ranges {
				rs = append(rs, Range{fr.ImageOffset, fr.Length})
			}
		}
	}
	return normalise(rs)
}
