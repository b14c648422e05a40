package recover

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// Range is a byte range of an image.
type Range struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// End is the offset just past the range.
func (r Range) End() int64 { return r.Offset + r.Length }

// FileRange is a damaged part of one file: where it is in the file and in
// the image.
type FileRange struct {
	FileOffset  int64 `json:"file_offset"`
	ImageOffset int64 `json:"image_offset"`
	Length      int64 `json:"length"`
}

// DamagedFile is a file that is (or may be) wrong, with the reason.
type DamagedFile struct {
	Path   string      `json:"path"`
	Size   int64       `json:"size"`
	Reason string      `json:"reason"`
	Ranges []FileRange `json:"ranges,omitempty"`
	// Suspect is set when the only evidence is the file's position in a
	// region a whole-image checksum found damaged: the damage may be in
	// another file of that region.
	Suspect bool `json:"suspect,omitempty"`
}

// FileDamage says which files of an image are whole and which are not.
type FileDamage struct {
	Tree    string        `json:"tree"`
	Files   int           `json:"files"`   // regular files seen
	Whole   int           `json:"whole"`   // of which untouched by the bad ranges
	Damaged []DamagedFile `json:"damaged"` // the rest, by path
	// Missing lists files a checksum list names that the image does not
	// have; they are not among Files (so Whole never goes below 0).
	Missing []DamagedFile `json:"missing,omitempty"`
	// Unreadable lists directories that could not be read: files below
	// them are unknown.
	Unreadable []DamagedFile `json:"unreadable_dirs,omitempty"`
	// Metadata lists bad ranges that are no file's data (descriptors,
	// directories, free space).
	Metadata []Range `json:"metadata,omitempty"`
}

// walkFunc is called for every entry with its slash-separated path.
type walkFunc func(p string, n *isofmt.Node) error

// walkImage visits every entry of img's selected tree, a directory's
// entries before its subdirectories', through isofmt.Walk (the walk ls
// and extract use: each directory entered once, names checked, depth and
// entries capped). Directories that fail to read, in part or whole, and
// those not entered are passed to bad; the entries read before damage
// are visited.
func walkImage(img *isofmt.Image, fn walkFunc, bad func(p string, err error)) error {
	root, err := img.Root()
	if err != nil {
		bad("/", err)
		return nil
	}
	return isofmt.Walk(img, "/", root, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			if d.Err != nil {
				bad(d.Path, d.Err)
			}
			var enter []*isofmt.Node
			for _, k := range d.Entries {
				if err := isofmt.CheckName(k.Name); err != nil {
					bad(isofmt.JoinPath(d.Path, strconv.Quote(k.Name)), fmt.Errorf("%w: %v", isofmt.ErrCorrupt, err))
					continue
				}
				if err := fn(isofmt.JoinPath(d.Path, k.Name), k); err != nil {
					return nil, err
				}
				if k.IsDir() {
					enter = append(enter, k)
				}
			}
			return enter, nil
		},
		Refused: func(p string, _ *isofmt.Node, err error) { bad(p, err) },
	})
}

// overlap returns the parts of file extents that intersect the sorted,
// non-overlapping bad ranges.
func overlap(ext []isofmt.Extent, bad []Range) []FileRange {
	var out []FileRange
	var foff int64
	for _, e := range ext {
		if !e.Sparse {
			// first bad range that may intersect
			i := sort.Search(len(bad), func(i int) bool { return bad[i].End() > e.Offset })
			for ; i < len(bad) && bad[i].Offset < e.Offset+e.Length; i++ {
				lo := max(bad[i].Offset, e.Offset)
				hi := min(bad[i].End(), e.Offset+e.Length)
				out = append(out, FileRange{FileOffset: foff + lo - e.Offset, ImageOffset: lo, Length: hi - lo})
			}
		}
		foff += e.Length
	}
	return out
}

// normalise sorts ranges and merges overlapping or touching ones.
func normalise(rs []Range) []Range {
	rs = append([]Range(nil), rs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
	var out []Range
	for _, r := range rs {
		if r.Length <= 0 {
			continue
		}
		if n := len(out); n > 0 && r.Offset <= out[n-1].End() {
			out[n-1].Length = max(out[n-1].End(), r.End()) - out[n-1].Offset
			continue
		}
		out = append(out, r)
	}
	return out
}

// Damage walks img and assigns the bad ranges to the files whose data
// they hit. reason is the text given for each damaged file.
func Damage(img *isofmt.Image, bad []Range, reason string) (*FileDamage, error) {
	bad = normalise(bad)
	d := &FileDamage{Tree: img.Tree()}
	used := make([]bool, len(bad))
	err := walkImage(img, func(p string, n *isofmt.Node) error {
		if !n.Stat.Mode.IsRegular() {
			return nil
		}
		d.Files++
		if n.Stat.StoredSize() < storedExpected(&n.Stat) {
			d.Damaged = append(d.Damaged, DamagedFile{Path: p, Size: n.Stat.Size, Reason: "extents shorter than the file size"})
			return nil
		}
		hits := overlap(n.Stat.Extents, bad)
		if len(hits) == 0 {
			d.Whole++
			return nil
		}
		for _, h := range hits {
			i := sort.Search(len(bad), func(i int) bool { return bad[i].End() > h.ImageOffset })
			if i < len(bad) {
				used[i] = true
			}
		}
		d.Damaged = append(d.Damaged, DamagedFile{Path: p, Size: n.Stat.Size, Reason: reason, Ranges: hits})
		return nil
	}, func(p string, err error) {
		d.Unreadable = append(d.Unreadable, DamagedFile{Path: p, Reason: err.Error()})
	})
	for i, u := range used {
		if !u {
			d.Metadata = append(d.Metadata, bad[i])
		}
	}
	return d, err
}

// storedExpected is how many bytes of extents a file needs: its size,
// except for zisofs files whose stored data is smaller.
func storedExpected(st *isofmt.Stat) int64 {
	if st.Zisofs != nil {
		return 0
	}
	return st.Size
}

// FilesTouching opens the image in r (size bytes) and says which files lie
// on the unfinished blocks of a rescue map.
func FilesTouching(r io.ReaderAt, size int64, unread []ddmap.Block) (*FileDamage, error) {
	img, err := isofmt.Open(r, size, nil)
	if err != nil {
		if errors.Is(err, isofmt.ErrNotISO) {
			return nil, fmt.Errorf("the rescued data is not a readable ISO 9660/UDF image (yet): %w", err)
		}
		return nil, err
	}
	defer img.Close()
	var bad []Range
	for _, b := range unread {
		bad = append(bad, Range{b.Pos, b.Size})
	}
	return Damage(img, bad, "data on unread sectors")
}
