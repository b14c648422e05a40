package recover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// SalvageOptions tune Salvage.
type SalvageOptions struct {
	// Report is Verify's result: files it named damaged, and files on its
	// bad ranges, are not extracted.
	Report *VerifyReport
	// Bad are further unreadable ranges (e.g. a rescue map's unread areas).
	Bad []Range
	// Progress is called as file data is copied.
	Progress func(done, total int64)
}

// SalvageResult lists what Salvage wrote and what it left out, and why.
type SalvageResult struct {
	Extracted int           `json:"extracted"`
	Bytes     int64         `json:"bytes"`
	Dirs      int           `json:"dirs"`
	Symlinks  int           `json:"symlinks"`
	Skipped   []DamagedFile `json:"skipped"`
	// Special lists devices, fifos and sockets: entries with no data,
	// which are not recreated (that needs privileges) and are no loss.
	Special []string `json:"special,omitempty"`
}

// Salvage extracts every file of img whose data lies wholly inside the
// readable, verified part of the image into dir, and lists the rest with
// the reason. All writes go through an os.Root on dir, so no name or
// symlink in the image can place a file outside it.
func Salvage(ctx context.Context, img *isofmt.Image, dir string, o SalvageOptions) (*SalvageResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	bad := append([]Range(nil), o.Bad...)
	damaged := map[string]string{}
	if o.Report != nil {
		bad = append(bad, o.Report.BadRanges...)
		if o.Report.Files != nil {
			for _, f := range o.Report.Files.Damaged {
				damaged[f.Path] = f.Reason
			}
		}
	}
	// Nothing past the end of the source is readable.
	bad = append(bad, Range{img.Size(), 1<<62 - img.Size()})
	bad = normalise(bad)

	res := &SalvageResult{}
	var total, done int64
	if o.Progress != nil {
		walkImage(img, func(p string, n *isofmt.Node) error {
			if n.Stat.Mode.IsRegular() {
				total += n.Stat.Size
			}
			return nil
		}, func(string, error) {})
	}
	skip := func(p string, size int64, reason string, r []FileRange) {
		res.Skipped = append(res.Skipped, DamagedFile{Path: p, Size: size, Reason: reason, Ranges: r})
	}
	buf := make([]byte, 1<<20)
	werr := walkImage(img, func(p string, n *isofmt.Node) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "/")
		st := &n.Stat
		switch {
		case n.IsDir():
			if err := root.MkdirAll(rel, 0o755); err != nil {
				skip(p, 0, fmt.Sprintf("cannot create directory: %v", err), nil)
				return nil
			}
			res.Dirs++
		case st.Mode&fs.ModeSymlink != 0:
			if err := mkParent(root, rel); err == nil {
				err = root.Symlink(st.Target, rel)
				if err == nil {
					res.Symlinks++
					return nil
				}
				skip(p, 0, fmt.Sprintf("cannot create symlink: %v", err), nil)
			}
		case st.Mode.IsRegular():
			if why, ok := damaged[p]; ok {
				skip(p, st.Size, why, nil)
				return nil
			}
			if hits := overlap(st.Extents, bad); len(hits) > 0 {
				skip(p, st.Size, "data lies in an unreadable, missing or damaged part of the image", hits)
				return nil
			}
			if st.StoredSize() < storedExpected(st) {
				skip(p, st.Size, "extents shorter than the file size", nil)
				return nil
			}
			if err := mkParent(root, rel); err != nil {
				skip(p, st.Size, fmt.Sprintf("cannot create parent directory: %v", err), nil)
				return nil
			}
			n64, err := copyNode(ctx, img, n, root, rel, buf, func(k int) {
				done += int64(k)
				if o.Progress != nil {
					o.Progress(done, total)
				}
			})
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				root.Remove(rel)
				skip(p, st.Size, fmt.Sprintf("read failed: %v", err), nil)
				return nil
			}
			res.Extracted++
			res.Bytes += n64
		default:
			res.Special = append(res.Special, p)
		}
		return nil
	}, func(p string, err error) {
		skip(p, 0, fmt.Sprintf("directory unreadable, its contents are lost: %v", err), nil)
	})
	return res, werr
}

func mkParent(root *os.Root, rel string) error {
	if i := strings.LastIndexByte(rel, '/'); i > 0 {
		return root.MkdirAll(rel[:i], 0o755)
	}
	return nil
}

func copyNode(ctx context.Context, img *isofmt.Image, n *isofmt.Node, root *os.Root, rel string, buf []byte, step func(int)) (int64, error) {
	out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	r := img.OpenNode(n)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			out.Close()
			return total, err
		}
		k, rerr := r.ReadAt(buf, total)
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				out.Close()
				return total, err
			}
			total += int64(k)
			step(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return total, rerr
		}
	}
	if !n.Stat.ModTime.IsZero() {
		defer root.Chtimes(rel, n.Stat.ModTime.Time(), n.Stat.ModTime.Time())
	}
	return total, out.Close()
}
