package recover

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// Verdicts of Verify; they map to exit codes 0, 1 and 2.
const (
	VerdictOK      = "ok"
	VerdictDamaged = "damaged"
	VerdictUnknown = "cannot tell"
)

// Check results.
const (
	CheckOK      = "ok"
	CheckDamaged = "damaged"
	CheckAbsent  = "absent"
	CheckUnknown = "unknown"
)

// Check is the outcome of one test Verify ran.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// ImageName is matched against the names in External.
	ImageName string
	// AnyName is set for an image whose name is unknown (a carved one):
	// it passes the external check when its hash equals any entry of
	// External, and is "unknown" (not damaged) when it equals none.
	AnyName bool
	// External is a checksum list given by the user (sha256sum/md5sum
	// format); the entry naming ImageName is checked against the whole image.
	External []SumEntry
	// RequireExternal makes the verdict "ok" only when an entry of
	// External matched: for a signed list, the checksums inside the image
	// (md5sum.txt, the implanted MD5) are its maker's own claims and
	// vouch for nothing the signature covers.
	RequireExternal bool
	// Progress is called as data is hashed.
	Progress func(done, total int64)
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Size     int64        `json:"size"`
	Required int64        `json:"required"` // the largest end any structure claims
	Sizes    []SizeSource `json:"sizes"`
	Verdict  string       `json:"verdict"`
	Checks   []Check      `json:"checks"`
	// BadRanges are image byte ranges known or suspected to be wrong:
	// the missing tail of a truncated image, failed implanted-MD5 fragments.
	BadRanges []Range `json:"bad_ranges,omitempty"`
	// Files lists damaged files by path with the affected bytes.
	Files *FileDamage `json:"files,omitempty"`
	// Verified counts files whose checksum from a list inside the image matched.
	Verified int      `json:"verified_files"`
	Warnings []string `json:"warnings,omitempty"`
}

// verifier carries the state of one Verify run.
type verifier struct {
	ctx     context.Context
	img     *isofmt.Image
	o       VerifyOptions
	rep     *VerifyReport
	done    int64
	total   int64
	damaged map[string]*DamagedFile
	order   []string
	missing []DamagedFile // listed in a checksum list, absent from the image

	anyEntry   bool // no entry names the image: all are tried
	md5        *isofmt.ImplantedMD5
	md5Sectors int64
	verified   map[string]bool
	badGroups  []badGroup
	hasUDF     bool
	udfTagErrs []string
}

// badGroup is a set of bad ranges sharing one explanation.
type badGroup struct {
	ranges  []Range
	reason  string
	suspect bool
}

// addBad records bad image ranges; the files on them are named later.
func (v *verifier) addBad(reason string, suspect bool, rs ...Range) {
	v.rep.BadRanges = append(v.rep.BadRanges, rs...)
	v.badGroups = append(v.badGroups, badGroup{rs, reason, suspect})
}

func (v *verifier) add(name, result, detail string) {
	v.rep.Checks = append(v.rep.Checks, Check{name, result, detail})
}

func (v *verifier) markFile(p string, size int64, reason string, ranges []FileRange, suspect bool) {
	if d, ok := v.damaged[p]; ok {
		d.Reason += "; " + reason
		d.Suspect = d.Suspect && suspect
		return
	}
	v.damaged[p] = &DamagedFile{Path: p, Size: size, Reason: reason, Ranges: ranges, Suspect: suspect}
	v.order = append(v.order, p)
}

// progressReader counts bytes for the progress callback.
type progressReader struct {
	r io.Reader
	v *verifier
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.v.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.v.done += int64(n)
	if p.v.o.Progress != nil {
		p.v.o.Progress(p.v.done, p.v.total)
	}
	return n, err
}

// Verify checks an opened image: truncation against every structure that
// claims a size, the isomd5sum checksum implanted in the primary
// descriptor, checksum lists stored in the image, and an external checksum
// of the whole image. Damaged files are named by path. The verdict is
// "ok" only when some checksum covered the data and nothing failed; an
// image with no checksum at all is "cannot tell", never "ok".
func Verify(ctx context.Context, img *isofmt.Image, o VerifyOptions) (*VerifyReport, error) {
	v := &verifier{ctx: ctx, img: img, o: o, rep: &VerifyReport{Size: img.Size()}, damaged: map[string]*DamagedFile{}, verified: map[string]bool{}}
	rep := v.rep

	// Sizes.
	in := img.Info()
	rep.Warnings = in.Warnings
	if in.VolumeSize > 0 {
		rep.Sizes = append(rep.Sizes, SizeSource{"ISO 9660 volume size", in.VolumeSize})
	}
	if ui := img.UDFInfo(); ui != nil {
		if ui.PartitionLength > 0 {
			rep.Sizes = append(rep.Sizes, SizeSource{"UDF partition end", ui.PartitionStart + ui.PartitionLength})
		}
		if ui.LastAnchor > 0 {
			rep.Sizes = append(rep.Sizes, SizeSource{"UDF last anchor", ui.LastAnchor})
		}
		var tagErrs []string
		for _, w := range ui.Warnings {
			rep.Warnings = append(rep.Warnings, w)
			if strings.Contains(w, "CRC mismatch") || strings.Contains(w, "checksum mismatch") {
				tagErrs = append(tagErrs, w)
			}
		}
		v.udfTagErrs = tagErrs
		v.hasUDF = true
	}
	rep.Sizes = append(rep.Sizes, structureEnds(img.Source(), img.Size(), in)...)
	for _, s := range rep.Sizes {
		rep.Required = max(rep.Required, s.End)
	}
	if rep.Required > rep.Size {
		v.addBad("data lies beyond the end of the truncated image", false, Range{rep.Size, rep.Required - rep.Size})
		var who []string
		for _, s := range rep.Sizes {
			if s.End > rep.Size {
				who = append(who, fmt.Sprintf("%s %d", s.What, s.End))
			}
		}
		v.add("truncation", CheckDamaged, fmt.Sprintf("image has %d bytes, %d missing (%s)", rep.Size, rep.Required-rep.Size, strings.Join(who, ", ")))
	} else {
		v.add("truncation", CheckOK, fmt.Sprintf("image has %d bytes, structures end at %d", rep.Size, rep.Required))
	}

	for _, c := range tailChecks(img.Source(), img.Size(), in.VolumeSize) {
		v.add(c.Name, c.Result, c.Detail)
	}

	// What has to be hashed, for the progress total.
	lists := v.findLists()
	var ext []SumEntry
	for _, e := range o.External {
		if path.Base(strings.ReplaceAll(e.Name, `\`, "/")) == o.ImageName && !o.AnyName {
			ext = append(ext, e)
		}
	}
	if o.AnyName || len(ext) == 0 {
		// A carved image (AnyName), a drive (/dev/sdb) or a drive's image
		// has no name of the list's: every entry is tried, and the one
		// that matches is named.
		ext = o.External
		v.anyEntry = true
	}
	md5Check := v.implantedMD5Plan()
	for _, l := range lists {
		v.total += l.bytes
	}
	v.total += int64(len(ext)) * img.Size()
	v.total += md5Check

	v.checkImplantedMD5()
	for _, l := range lists {
		if err := v.checkList(l); err != nil {
			return rep, err
		}
	}
	if len(o.External) > 0 {
		if err := v.checkExternal(ext); err != nil {
			return rep, err
		}
	}

	// Files hit by bad ranges, and the tree's own consistency. A file a
	// checksum list verified is good even inside a failed MD5 fragment
	// (the fragment's damage is elsewhere in it).
	var d *FileDamage
	var err error
	for _, g := range v.badGroups {
		d, err = Damage(img, g.ranges, g.reason)
		if err != nil && d == nil {
			return rep, err
		}
		for _, f := range d.Damaged {
			if !v.verified[f.Path] {
				v.markFile(f.Path, f.Size, f.Reason, f.Ranges, g.suspect)
			}
		}
	}
	if d == nil {
		if d, err = Damage(img, nil, ""); err != nil && d == nil {
			return rep, err
		}
	}
	d.Damaged = nil
	damagedFiles := 0 // of the regular files Files counts
	for _, p := range v.order {
		d.Damaged = append(d.Damaged, *v.damaged[p])
		if fi, err := img.Lstat(strings.TrimPrefix(p, "/")); err == nil && fi.Mode().IsRegular() {
			damagedFiles++
		}
	}
	d.Missing = v.missing
	d.Whole = max(d.Files-damagedFiles, 0)
	rep.Files = d

	// UDF descriptor tags and CRCs: the walk above read every directory
	// and file entry of the selected tree through checkTag.
	if v.hasUDF {
		var crc []string
		crc = append(crc, v.udfTagErrs...)
		if img.Tree() == "udf" {
			for _, u := range d.Unreadable {
				if strings.Contains(u.Reason, "CRC") || strings.Contains(u.Reason, "checksum") {
					crc = append(crc, u.Path+": "+u.Reason)
				}
			}
		}
		if len(crc) > 0 {
			v.add("UDF descriptor CRCs", CheckDamaged, strings.Join(crc, "; "))
		} else if img.Tree() == "udf" {
			v.add("UDF descriptor CRCs", CheckOK, "every descriptor read has a valid tag checksum and CRC")
		} else {
			v.add("UDF descriptor CRCs", CheckOK, "volume descriptors valid (the UDF tree was not walked)")
		}
	}

	// Verdict.
	anyOK, anyBad := false, false
	for _, c := range rep.Checks {
		switch c.Result {
		case CheckOK:
			if c.Name == "implanted md5" || strings.HasPrefix(c.Name, "external ") || strings.HasPrefix(c.Name, "/") {
				anyOK = true // structural checks alone verify nothing
			}
		case CheckDamaged:
			anyBad = true
		}
	}
	switch {
	case anyBad || len(d.Damaged) > 0 || len(d.Missing) > 0 || len(d.Unreadable) > 0:
		rep.Verdict = VerdictDamaged
	case anyOK && (!o.RequireExternal || v.externalMatched()):
		rep.Verdict = VerdictOK
	default:
		rep.Verdict = VerdictUnknown
	}
	return rep, err
}

// sumList is a checksum list found in the image.
type sumList struct {
	path    string
	entries []SumEntry
	bytes   int64
	err     error
}

func (v *verifier) findLists() []*sumList {
	var out []*sumList
	for _, name := range listNames {
		p := "/" + name
		fi, err := v.img.Stat(strings.TrimPrefix(p, "/"))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxSumLine*64 {
			continue
		}
		l := &sumList{path: p}
		f, err := v.img.Open(strings.TrimPrefix(p, "/"))
		if err == nil {
			l.entries, l.err = ParseSums(f)
			f.Close()
		} else {
			l.err = err
		}
		for _, e := range l.entries {
			if ip, ok := resolveListed(path.Dir(p), e.Name); ok {
				if fi, err := v.img.Stat(strings.TrimPrefix(ip, "/")); err == nil {
					l.bytes += fi.Size()
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// fileRanges is the whole of a file's data as damaged ranges.
func fileRanges(st *isofmt.Stat) []FileRange {
	var out []FileRange
	var off int64
	for _, e := range st.Extents {
		if !e.Sparse {
			out = append(out, FileRange{FileOffset: off, ImageOffset: e.Offset, Length: e.Length})
		}
		off += e.Length
	}
	return out
}

func (v *verifier) checkList(l *sumList) error {
	if l.err != nil {
		v.add(l.path, CheckUnknown, fmt.Sprintf("cannot read the list: %v", l.err))
		return nil
	}
	ok, bad, missing := 0, 0, 0
	for _, e := range l.entries {
		ip, safe := resolveListed(path.Dir(l.path), e.Name)
		if !safe {
			continue
		}
		rel := strings.TrimPrefix(ip, "/")
		if ip == l.path {
			continue // a list cannot contain its own checksum
		}
		fi, err := v.img.Stat(rel)
		if err != nil {
			missing++
			v.missing = append(v.missing, DamagedFile{Path: ip, Reason: fmt.Sprintf("listed in %s but missing from the image", l.path)})
			continue
		}
		st, _ := fi.Sys().(*isofmt.Stat)
		h := NewHash(e.Algo)
		f, err := v.img.Open(rel)
		if err == nil {
			_, err = io.Copy(h, &progressReader{f, v})
			f.Close()
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		var ranges []FileRange
		if st != nil {
			ranges = fileRanges(st)
		}
		switch {
		case err != nil:
			bad++
			v.markFile(ip, fi.Size(), fmt.Sprintf("unreadable: %v", err), ranges, false)
		case !bytes.Equal(h.Sum(nil), e.Sum):
			bad++
			v.markFile(ip, fi.Size(), fmt.Sprintf("%s mismatch (listed in %s)", e.Algo, l.path), ranges, false)
		default:
			ok++
			if !v.verified[ip] {
				v.verified[ip] = true
				v.rep.Verified++
			}
		}
	}
	detail := fmt.Sprintf("%d files match, %d differ, %d missing", ok, bad, missing)
	if bad+missing > 0 {
		v.add(l.path, CheckDamaged, detail)
	} else if ok > 0 {
		v.add(l.path, CheckOK, detail)
		// A changed byte in the list would break a checksum or a name, so a
		// list whose every entry matched is itself intact.
		v.verified[l.path] = true
	} else {
		v.add(l.path, CheckUnknown, "no usable entries")
	}
	return nil
}

func (v *verifier) checkExternal(ext []SumEntry) error {
	if len(ext) == 0 {
		v.add("external checksum", CheckUnknown, fmt.Sprintf("no entry for %q in the checksum file", v.o.ImageName))
		return nil
	}
	lengths := imageLengths(v.rep.Sizes, v.img.Size())
	var algos []string
	byAlgo := map[string][]SumEntry{}
	for _, e := range ext {
		if byAlgo[e.Algo] == nil {
			algos = append(algos, e.Algo)
		}
		byAlgo[e.Algo] = append(byAlgo[e.Algo], e)
	}
	for _, algo := range algos {
		entries := byAlgo[algo]
		h := NewHash(algo)
		// One pass per algorithm, checking every entry at every length
		// the image may have: on a drive (or a drive's image) the image
		// is followed by other bytes, which a published sum does not
		// cover.
		matched := int64(-1)
		var match SumEntry
		var off int64
		var err error
		for _, l := range lengths {
			if _, err = io.Copy(h, &progressReader{io.NewSectionReader(v.img.Source(), off, l-off), v}); err != nil {
				break
			}
			off = l
			sum := h.Sum(nil)
			for _, e := range entries {
				if bytes.Equal(sum, e.Sum) {
					matched, match = l, e
					break
				}
			}
			if matched >= 0 {
				break
			}
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			v.add("external "+algo, CheckUnknown, fmt.Sprintf("reading the image: %v", err))
			continue
		}
		if v.anyEntry && matched < 0 {
			continue
		}
		name := ""
		if v.anyEntry {
			name = fmt.Sprintf(" (the entry for %q)", match.Name)
		}
		switch {
		case matched == v.img.Size():
			v.add("external "+algo, CheckOK, "whole image matches "+hex.EncodeToString(match.Sum)+name)
		case matched > 0:
			v.add("external "+algo, CheckOK, fmt.Sprintf("the first %d bytes (the image's own length) match %s%s; the %d bytes after them are not part of the image (a drive, or a drive's image) and were not hashed",
				matched, hex.EncodeToString(match.Sum), name, v.img.Size()-matched))
		default:
			detail := fmt.Sprintf("no length the image may have matches %s (tried %s)", hex.EncodeToString(entries[0].Sum), lengthList(lengths))
			if v.img.Size() > lengths[0] {
				detail += "; if this is a drive a live system booted from, a partition it added (persistence) changes the partition table the sum covers: compare with the image itself (verify --against IMAGE)"
			}
			v.add("external "+algo, CheckDamaged, detail)
		}
	}
	if v.anyEntry && !v.externalMatched() {
		// Which entry was meant is unknown: that is no evidence of damage.
		detail := fmt.Sprintf("the image's hash equals no entry of the checksum file at any length the image may have (tried %s)", lengthList(lengths))
		if v.img.Size() > lengths[0] {
			detail += "; if this is a drive a live system booted from, a partition it added (persistence) changes the partition table the sum covers: compare with the image itself (verify --against IMAGE)"
		}
		v.add("external checksum", CheckUnknown, detail)
	}
	return nil
}

func (v *verifier) externalMatched() bool { return v.rep.ExternalOK() }

// ExternalOK tells whether an entry of VerifyOptions.External matched the
// image.
func (r *VerifyReport) ExternalOK() bool {
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, "external ") && c.Result == CheckOK {
			return true
		}
	}
	return false
}

// imageLengths lists, ascending, the lengths an image may have, from
// the ends its structures claim (volume, UDF, partitions, GPT backup)
// and the paddings mastering tools add (32 KiB, 1 MiB). size itself is
// included when it is close to those (an image file); a drive much
// larger than its image is never hashed whole.
func imageLengths(sizes []SizeSource, size int64) []int64 {
	set := map[int64]bool{}
	var maxEnd int64
	for _, s := range sizes {
		for _, l := range []int64{s.End, (s.End + 32<<10 - 1) / (32 << 10) * (32 << 10), (s.End + 1<<20 - 1) / (1 << 20) * (1 << 20)} {
			if l > 0 && l <= size {
				set[l] = true
			}
		}
		maxEnd = max(maxEnd, s.End)
	}
	if size <= (maxEnd+1<<20-1)/(1<<20)*(1<<20)+1<<20 || len(set) == 0 {
		set[size] = true
	}
	out := make([]int64, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func lengthList(ls []int64) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprint(l)
	}
	return strings.Join(s, ", ")
}

// checkAnyExternal hashes the image once per algorithm in ext and looks
// for its sum among all entries: a carved image has no name to match.
