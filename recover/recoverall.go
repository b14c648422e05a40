package recover

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// Recovered is one image written out by Recover, with its verdict.
type Recovered struct {
	*Found
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
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	// OutDir receives the images; the caller has checked it is not on the source.
	OutDir string
	// Progress reports long steps: stage names the step and image.
	Progress func(stage string, done, total int64)
}

// Recover writes each found image to OutDir and validates it. Images
// nested in an image that proved whole are skipped (reported once, as the
// outer one). When an image proves damaged and the source holds an ext4
// file system, Recover looks for the deleted file's block list in old
// inode copies (the journal keeps them) and, if reassembling the file by
// it gives a better verdict, keeps that instead.
func Recover(ctx context.Context, src io.ReaderAt, size int64, found []*Found, o RecoverOptions) ([]*Recovered, error) {
	var out []*Recovered
	status := map[int64]string{}
	var fsx *ext4Sources // located lazily, once
	var fat []*fatFS
	for i, f := range found {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if f.NestedIn >= 0 {
			if st := status[f.NestedIn]; st == StatusExact || st == StatusStructural {
				continue
			}
		}
		r := &Recovered{Found: f, Method: "contiguous"}
		r.Path = filepath.Join(o.OutDir, carveFileName(i, f))
		err := writeImage(ctx, r.Path, f.Available, func(w io.Writer, progress func(int64)) error {
			return copyRange(ctx, src, f.Offset, f.Available, w, progress)
		}, o.Progress)
		if err != nil {
			r.Status, r.Error = StatusDamaged, err.Error()
			out = append(out, r)
			continue
		}
		r.Verify, err = verifyPath(ctx, r.Path, o.Progress)
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
		status[f.Offset] = r.Status
		out = append(out, r)
	}
	return out, nil
}

// verifyPath opens a written image and verifies it.
func verifyPath(ctx context.Context, path string, progress func(string, int64, int64)) (*VerifyReport, error) {
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	o := VerifyOptions{}
	if progress != nil {
		stage := "verify " + filepath.Base(path)
		o.Progress = func(done, total int64) { progress(stage, done, total) }
	}
	return Verify(ctx, img, o)
}

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
