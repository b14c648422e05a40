package recover

import (
	"context"
	"fmt"
	"sync"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/isofmt"
)

// SalvageOptions tune Salvage.
type SalvageOptions struct {
	// Report is Verify's result: files it named damaged, and files on its
	// bad ranges, are not extracted whole.
	Report *VerifyReport
	// Bad are further unreadable ranges (e.g. a rescue map's unread areas).
	Bad []Range
	// Overwrite and Metadata are extract's policies (the zero values:
	// refuse to replace anything; restore modes, times and hard links).
	Overwrite extract.Overwrite
	Metadata  extract.Metadata
	// Progress is told the bytes to copy and the bytes copied.
	Progress extract.Progress
}

// SalvageResult lists what Salvage wrote and what it left out, and why.
type SalvageResult struct {
	// Extracted counts files written whole (second names of hard links
	// included), Bytes all file data written.
	Extracted int   `json:"extracted"`
	Bytes     int64 `json:"bytes"`
	Dirs      int   `json:"dirs"`
	Symlinks  int   `json:"symlinks"`
	// Partial lists files written in part: their readable ranges, the
	// rest left as holes (sparse; reading as zeros).
	Partial []PartialFile `json:"partial,omitempty"`
	// Skipped lists what was not written at all, with the reason.
	Skipped []DamagedFile `json:"skipped"`
	// Special lists devices, FIFOs and sockets that were not recreated
	// (that needs privileges, or a system that has them): no data is lost.
	Special []string `json:"special,omitempty"`
	// Existing counts entries left alone because they existed (with
	// extract.Skip).
	Existing int `json:"existing,omitempty"`
	// Problems are what concerns the image as a whole (truncation).
	Problems []string `json:"problems,omitempty"`
}

// PartialFile is a file written in part, as ddrescue writes a disc: the
// readable ranges, holes for the rest.
type PartialFile struct {
	Path    string          `json:"path"`
	Size    int64           `json:"size"`
	Reason  string          `json:"reason"`
	Written []extract.Range `json:"written"`
	Missing []extract.Range `json:"missing"`
}

// Salvage extracts from img into dir every file whose data lies in the
// readable, verified part of the image — whole, or in part, the
// unreadable or damaged ranges left as holes — and lists the rest with
// the reason. It is extract.Run with a Filter: the same writer, the same
// overwrite policy, modes and safety (nothing written outside dir, no
// symlink followed).
func Salvage(ctx context.Context, img *isofmt.Image, dir string, o SalvageOptions) (*SalvageResult, error) {
	bad := append([]Range(nil), o.Bad...)
	damaged := map[string]DamagedFile{}
	if o.Report != nil {
		bad = append(bad, o.Report.BadRanges...)
		if o.Report.Files != nil {
			for _, f := range o.Report.Files.Damaged {
				damaged[f.Path] = f
			}
		}
	}
	// Nothing past the end of the source is readable.
	bad = append(bad, Range{img.Size(), 1<<62 - img.Size()})
	bad = normalise(bad)

	res := &SalvageResult{}
	// hits keeps, for files the Filter left out, the damaged ranges found.
	hits := map[string][]FileRange{}
	var mu sync.Mutex
	filter := func(p string, n *isofmt.Node) extract.Decision {
		return salvageDecision("/"+p, &n.Stat, bad, damaged, hits)
	}
	report := func(ev extract.Event) {
		mu.Lock()
		defer mu.Unlock()
		p := "/" + ev.Path
		switch {
		case ev.Kind == extract.Partial || ev.Kind == extract.Failed && ev.Kept:
			res.Partial = append(res.Partial, PartialFile{Path: p, Size: ev.Size, Reason: ev.Err.Error(),
				Written: ev.Written, Missing: extract.Subtract([]extract.Range{{Offset: 0, Length: ev.Size}}, ev.Written)})
		case ev.Kind == extract.Failed && ev.Path == "":
			res.Problems = append(res.Problems, ev.Err.Error())
		case ev.Kind == extract.Failed || ev.Kind == extract.Unreached:
			res.Skipped = append(res.Skipped, DamagedFile{Path: p, Size: ev.Size, Reason: ev.Err.Error()})
		case ev.Kind == extract.Skipped && ev.Type == "-":
			res.Skipped = append(res.Skipped, DamagedFile{Path: p, Size: ev.Size, Reason: ev.Err.Error(), Ranges: hits[p]})
		case ev.Kind == extract.Skipped:
			res.Special = append(res.Special, p)
		}
	}
	r, err := extract.Run(ctx, img, dir, extract.Options{Overwrite: o.Overwrite, Metadata: o.Metadata,
		Filter: filter, Progress: o.Progress, Report: report})
	if r == nil {
		return nil, err
	}
	res.Extracted = r.Files + r.Links - r.Partial
	res.Bytes, res.Dirs, res.Symlinks, res.Existing = r.Bytes, r.Dirs, r.Symlinks, r.Existing
	return res, err
}

// salvageDecision says how much of the file at p (with stat st) to keep:
// all of it, the parts off the bad ranges, or nothing.
func salvageDecision(p string, st *isofmt.Stat, bad []Range, damaged map[string]DamagedFile, hits map[string][]FileRange) extract.Decision {
	df, named := damaged[p]
	if named && len(df.Ranges) == 0 {
		// A checksum says the file is wrong, not where: nothing of it is
		// known good.
		return extract.Decision{Skip: true, Reason: df.Reason}
	}
	h := overlap(st.Extents, bad)
	if named {
		h = append(h, df.Ranges...)
	}
	reason := "data lies in an unreadable, missing or damaged part of the image"
	if named {
		reason = df.Reason
	}
	var holes []extract.Range
	for _, r := range h {
		holes = append(holes, extract.Range{Offset: r.FileOffset, Length: r.Length})
	}
	if stored := st.StoredSize(); stored < storedExpected(st) {
		holes = append(holes, extract.Range{Offset: stored, Length: st.Size - stored})
		if len(h) == 0 {
			reason = "extents shorter than the file size"
		}
	}
	if len(holes) == 0 {
		return extract.Decision{}
	}
	hits[p] = h
	if st.Zisofs != nil {
		// Compressed blocks cannot be cut: a damaged one loses the file.
		return extract.Decision{Skip: true, Reason: reason + " (zisofs-compressed)"}
	}
	good := extract.Subtract([]extract.Range{{Offset: 0, Length: st.Size}}, holes)
	if len(good) == 0 {
		return extract.Decision{Skip: true, Reason: reason}
	}
	return extract.Decision{Ranges: good, Reason: fmt.Sprintf("%s; missing bytes left as holes", reason)}
}
