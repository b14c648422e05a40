package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Index blocks written over deleted files.
//
// A directory made after a file was deleted keeps its index in INDX
// blocks ($INDEX_ALLOCATION), and they go wherever $Bitmap has free
// clusters — the deleted file's among them. Once the directory is deleted
// too, $Bitmap shows those clusters free again and no deleted file's
// $DATA claims them, so only the directory's record can tell. Its record
// is not in use either, but still lists the index's runs: where an INDX
// block of that directory (its magic and its own VCN) is on the deleted
// file's clusters now, the file's bytes there are gone.

const (
	attrIndexAllocation = 0xA0
	// MaxIndexRuns caps the index runs of deleted directories remembered.
	MaxIndexRuns = 1 << 20
)

// indexRun is one run of a deleted directory's index allocation.
type indexRun struct {
	record      int64
	vcn, lcn, n int64 // in clusters
}

// noteIndexRuns remembers the index runs of a record not in use, and the
// runs of its other non-resident attributes that are no file data
// ($ATTRIBUTE_LIST, $SECURITY_DESCRIPTOR, ...): those cannot be told
// from other bytes, so they only put a file on them in doubt.
func (v *Volume) noteIndexRuns(rec *Record) {
	for _, a := range rec.Attrs {
		if !a.NonResident || a.Type == AttrData {
			continue
		}
		if a.Type != attrIndexAllocation {
			runs, _ := DecodeRuns(a.Runs, a.LowVCN, v.Clusters, MaxExtents)
			for _, r := range runs {
				if r.LCN >= 0 && len(v.otherRuns) < MaxIndexRuns {
					v.otherRuns = append(v.otherRuns, fsmeta.Claim{Physical: r.LCN * v.ClusterSize, Length: r.Length * v.ClusterSize,
						What: fmt.Sprintf("attribute %#x of deleted record %d", a.Type, rec.Number)})
				}
			}
			continue
		}
		runs, _ := DecodeRuns(a.Runs, a.LowVCN, v.Clusters, MaxExtents) // a damaged runlist still gives its first runs
		for _, r := range runs {
			if r.LCN < 0 {
				continue
			}
			if len(v.indexRuns) >= MaxIndexRuns {
				v.indexCapped = true
				return
			}
			v.indexRuns = append(v.indexRuns, indexRun{rec.Number, r.VCN, r.LCN, r.Length})
			v.indexMax = max(v.indexMax, r.Length)
		}
	}
}

// Claims records on f (extents relative to the volume) the index blocks
// of deleted directories that lie on its clusters now. Deleted gathers
// the directories; callers ask only for the files they recover.
func (v *Volume) Claims(f *fsmeta.File) {
	if v.indexCapped {
		f.AddClaim(fsmeta.Claim{What: fmt.Sprintf("index blocks of more than %d runs of deleted directories, not weighed", MaxIndexRuns)})
	}
	if !v.indexSorted {
		sort.Slice(v.indexRuns, func(i, j int) bool { return v.indexRuns[i].lcn < v.indexRuns[j].lcn })
		v.indexSorted = true
	}
	for _, c := range v.otherRuns {
		g := &fsmeta.File{Extents: []fsmeta.Extent{{Physical: c.Physical, Length: c.Length}}}
		for _, e := range fsmeta.SharedRanges(g, f) {
			f.AddClaim(fsmeta.Claim{Physical: e.Physical, Length: e.Length, What: c.What})
		}
	}
	cs := v.ClusterSize
	hdr := make([]byte, 24)
	for _, e := range f.Extents {
		if e.Zero {
			continue
		}
		// Runs sorted by start, none longer than indexMax: the first that
		// could reach e starts at most indexMax clusters before it.
		first := e.Physical/cs - v.indexMax
		j := sort.Search(len(v.indexRuns), func(i int) bool { return v.indexRuns[i].lcn >= first })
		for ; j < len(v.indexRuns) && v.indexRuns[j].lcn*cs < e.Physical+e.Length; j++ {
			r := v.indexRuns[j]
			lo, hi := max(e.Physical, r.lcn*cs), min(e.Physical+e.Length, (r.lcn+r.n)*cs)
			if hi <= lo {
				continue
			}
			// Index blocks start at multiples of 512 bytes in the run;
			// each that starts with INDX and carries its own VCN here is
			// the directory's.
			for p := r.lcn*cs + (lo-r.lcn*cs)/512*512; p < hi; p += 512 {
				if _, err := v.r.ReadAt(hdr, p); err != nil || !bytes.Equal(hdr[:4], []byte("INDX")) {
					continue
				}
				usaCount := int64(binary.LittleEndian.Uint16(hdr[6:]))
				size := (usaCount - 1) * fixupSector
				at := r.vcn*cs + p - r.lcn*cs // byte offset in the index
				vcn := int64(binary.LittleEndian.Uint64(hdr[16:]))
				if size < fixupSector || size > 64<<10 || (vcn*cs != at && vcn*fixupSector != at) {
					continue
				}
				q := min(p+size, e.Physical+e.Length)
				f.AddClaim(fsmeta.Claim{Physical: max(p, lo), Length: q - max(p, lo), What: fmt.Sprintf("an index block of deleted directory record %d", r.record), After: true})
				p += size - 512
			}
		}
	}
}

// Metadata reports what NTFS metadata block b (a cluster of a recovered
// file) holds at a 512-byte boundary — an MFT record or an index block
// whose update sequence array checks out — or "" when none: the last
// check before a file is called exact on the file system's word, for
// metadata no record still names.
func Metadata(b []byte) string {
	for off := 0; off+fixupSector <= len(b); off += fixupSector {
		magic := string(b[off : off+4])
		if magic != "FILE" && magic != "INDX" {
			continue
		}
		usaOff := int(binary.LittleEndian.Uint16(b[off+4:]))
		usaCount := int(binary.LittleEndian.Uint16(b[off+6:]))
		n := (usaCount - 1) * fixupSector
		if usaCount < 2 || off+n > len(b) || usaOff < 40 || usaOff+2*usaCount > n {
			continue
		}
		if applyFixups(append([]byte(nil), b[off:off+n]...)) == nil {
			return fmt.Sprintf("an NTFS %s block", magic)
		}
	}
	return ""
}
