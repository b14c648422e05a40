// Package ntfs reads the metadata of an NTFS volume the way an undelete
// tool must: every $MFT record, in use or not, with its update-sequence
// fixups applied; names from $FILE_NAME; the runlists of non-resident
// $DATA attributes (fragmented and sparse runs), gathered across
// extension records through $ATTRIBUTE_LIST; and the cluster allocation
// map ($Bitmap) that says whether a deleted file's clusters were taken
// since. Deleting a file on NTFS clears the record's in-use flag and frees
// its clusters in $Bitmap, but leaves the record's attributes, runlist
// included, where they were: as long as the clusters stay free, the file
// comes back exactly.
//
// The volume is damaged by assumption: every offset, length and count read
// from it is checked before use, chains are capped, and nothing is
// allocated from a size the volume merely claims.
package ntfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf16"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Limits on what the volume may claim.
const (
	// MaxRecordSize caps an MFT record (1 KiB on every NTFS in use, 4 KiB
	// on 4Kn disks).
	MaxRecordSize = 64 << 10
	// MaxRecords caps the records walked (2^32 - 1 is NTFS's own limit;
	// this is far more than any volume a person recovers from holds and
	// bounds a scan of a hostile $MFT runlist).
	MaxRecords = 1 << 28
	// MaxExtents caps the runs of one file.
	MaxExtents = 1 << 18
	// MaxAttrListEntries caps the entries of one $ATTRIBUTE_LIST (each is
	// at least 26 bytes; a real list of a very fragmented file has a few
	// thousand).
	MaxAttrListEntries = 1 << 16
	// MaxAttrListBytes caps a non-resident $ATTRIBUTE_LIST read into memory.
	MaxAttrListBytes = 4 << 20
	// MaxBitmapBytes caps the $Bitmap kept in memory (a 256 TiB volume
	// with 4 KiB clusters).
	MaxBitmapBytes = 8 << 30 >> 3
	// MaxPathDepth caps the parent chain followed to build a path.
	MaxPathDepth = 64
	// fixupSector is the stride of the update sequence array: always 512
	// bytes, whatever the sector size.
	fixupSector = 512
)

// Attribute types (the ones read here).
const (
	AttrStandardInformation = 0x10
	AttrAttributeList       = 0x20
	AttrFileName            = 0x30
	AttrData                = 0x80
	attrEnd                 = 0xFFFFFFFF
)

// Record flags.
const (
	flagInUse     = 0x01
	flagDirectory = 0x02
)

// Well-known records.
const (
	recordMFT    = 0
	recordBitmap = 6
	recordRoot   = 5
)

// Sentinel errors.
var (
	// ErrCorrupt marks metadata that breaks NTFS's rules.
	ErrCorrupt = errors.New("ntfs: corrupt metadata")
	// ErrUnsupported marks data NTFS stores in a way not rebuilt here
	// (compressed or encrypted attributes).
	ErrUnsupported = errors.New("ntfs: unsupported")
)

// Volume is an NTFS volume opened for undelete.
type Volume struct {
	r    io.ReaderAt
	size int64

	SectorSize  int64
	ClusterSize int64
	RecordSize  int64
	Clusters    int64 // clusters in the volume

	mft     []fsmeta.Extent // the $MFT data runs, in bytes
	mftSize int64
	bitmap  []byte // $Bitmap, nil when unreadable

	// The index runs of deleted directories (claims.go).
	indexRuns                []indexRun
	otherRuns                []fsmeta.Claim
	indexMax                 int64 // longest run, in clusters
	indexSorted, indexCapped bool
	// BitmapNote says why the allocation map is missing, "" if loaded.
	BitmapNote string
}

// Open reads the boot sector and the $MFT's own record of r (size bytes:
// a partition or an image of one).
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	var b [512]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("ntfs: boot sector: %w", err)
	}
	if !bytes.Equal(b[3:11], []byte("NTFS    ")) {
		return nil, fsmeta.ErrNotFound
	}
	v := &Volume{r: r, size: size}
	v.SectorSize = int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	if spc > 0x80 { // 2^(256-x): clusters above 64 KiB
		if spc < 256-20 {
			return nil, fmt.Errorf("%w: boot sector: sectors per cluster code %#x", ErrCorrupt, b[13])
		}
		spc = 1 << (256 - spc)
	}
	if v.SectorSize < 256 || v.SectorSize > 4096 || v.SectorSize&(v.SectorSize-1) != 0 || spc == 0 || spc&(spc-1) != 0 {
		return nil, fmt.Errorf("%w: boot sector: %d bytes per sector, %d sectors per cluster", ErrCorrupt, v.SectorSize, spc)
	}
	v.ClusterSize = v.SectorSize * spc
	sectors := int64(binary.LittleEndian.Uint64(b[40:]))
	if sectors <= 0 || sectors > size/v.SectorSize+1 {
		return nil, fmt.Errorf("%w: boot sector: %d sectors of %d bytes on a source of %d bytes", ErrCorrupt, sectors, v.SectorSize, size)
	}
	v.Clusters = sectors * v.SectorSize / v.ClusterSize
	switch c := int8(b[64]); {
	case c > 0:
		v.RecordSize = int64(c) * v.ClusterSize
	case c < 0 && c >= -16:
		v.RecordSize = 1 << -c
	}
	if v.RecordSize < fixupSector || v.RecordSize > MaxRecordSize || v.RecordSize&(v.RecordSize-1) != 0 {
		return nil, fmt.Errorf("%w: boot sector: MFT record size code %d", ErrCorrupt, int8(b[64]))
	}
	mftLCN := int64(binary.LittleEndian.Uint64(b[48:]))
	if mftLCN <= 0 || mftLCN >= v.Clusters || mftLCN*v.ClusterSize+v.RecordSize > size {
		return nil, fmt.Errorf("%w: boot sector: $MFT at cluster %d, outside the volume", ErrCorrupt, mftLCN)
	}
	// Record 0 describes the $MFT itself; read it from where the boot
	// sector says, then switch to its runlist.
	v.mft = []fsmeta.Extent{{Physical: mftLCN * v.ClusterSize, Length: v.RecordSize}}
	v.mftSize = v.RecordSize
	rec, err := v.Record(recordMFT)
	if err != nil {
		return nil, fmt.Errorf("ntfs: $MFT record: %w", err)
	}
	f, err := v.dataOf(rec)
	if err != nil {
		return nil, fmt.Errorf("ntfs: $MFT data: %w", err)
	}
	if len(f.Extents) == 0 || f.Extents[0].Zero || f.Extents[0].Physical != mftLCN*v.ClusterSize {
		return nil, fmt.Errorf("%w: $MFT runlist does not start at the boot sector's cluster %d", ErrCorrupt, mftLCN)
	}
	v.mft, v.mftSize = f.Extents, min(f.Size, f.Stored())
	v.loadBitmap()
	return v, nil
}

// Records is the number of records the $MFT holds.
func (v *Volume) Records() int64 { return min(v.mftSize/v.RecordSize, MaxRecords) }

// Record is one parsed MFT record.
type Record struct {
	Number   int64
	InUse    bool
	Dir      bool
	Sequence uint16
	// Base is the base record's number for an extension record, 0 for a base record.
	Base    int64
	BaseSeq uint16
	LSN     uint64
	Attrs   []Attr
}

// Attr is one attribute header with its value (resident) or runlist
// (non-resident) still encoded.
type Attr struct {
	Type        uint32
	Name        string
	Flags       uint16
	Instance    uint16
	NonResident bool
	Value       []byte // resident value
	// Non-resident fields.
	LowVCN, HighVCN int64
	Runs            []byte
	AllocSize       int64
	DataSize        int64
	InitSize        int64
}

// Record reads and parses record n.
func (v *Volume) Record(n int64) (*Record, error) {
	if n < 0 || n >= max(v.Records(), 1) {
		return nil, fmt.Errorf("%w: record %d outside the $MFT (%d records)", ErrCorrupt, n, v.Records())
	}
	off, ok := v.recordOffset(n)
	if !ok {
		return nil, fmt.Errorf("%w: record %d: the $MFT runlist does not map it", ErrCorrupt, n)
	}
	b := make([]byte, v.RecordSize)
	if _, err := v.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("ntfs: record %d at byte %d: %w", n, off, err)
	}
	rec, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("record %d at byte %d: %w", n, off, err)
	}
	rec.Number = n
	return rec, nil
}

// recordOffset maps record n through the $MFT runs.
func (v *Volume) recordOffset(n int64) (int64, bool) {
	pos := n * v.RecordSize
	for _, e := range v.mft {
		if pos >= e.Logical && pos+v.RecordSize <= e.Logical+e.Length {
			if e.Zero {
				return 0, false
			}
			off := e.Physical + pos - e.Logical
			return off, off >= 0 && off+v.RecordSize <= v.size
		}
	}
	return 0, false
}

// ErrNotRecord marks a record slot that holds no FILE record (never used,
// or wiped).
var ErrNotRecord = errors.New("ntfs: not a FILE record")

// ParseRecord applies the fixups of a raw MFT record and parses its
// header and attributes. b is modified (the fixups are undone in place).
func ParseRecord(b []byte) (*Record, error) {
	if len(b) < 48 || len(b)%fixupSector != 0 {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrCorrupt, len(b))
	}
	if !bytes.Equal(b[0:4], []byte("FILE")) {
		return nil, ErrNotRecord
	}
	if err := applyFixups(b); err != nil {
		return nil, err
	}
	flags := binary.LittleEndian.Uint16(b[22:])
	base := binary.LittleEndian.Uint64(b[32:])
	rec := &Record{
		InUse:    flags&flagInUse != 0,
		Dir:      flags&flagDirectory != 0,
		Sequence: binary.LittleEndian.Uint16(b[16:]),
		LSN:      binary.LittleEndian.Uint64(b[8:]),
		Base:     int64(base & 0xFFFFFFFFFFFF),
		BaseSeq:  uint16(base >> 48),
	}
	first := int(binary.LittleEndian.Uint16(b[20:]))
	used := int(binary.LittleEndian.Uint32(b[24:]))
	if used > len(b) || used < first {
		used = len(b) // a deleted record may keep a stale length; the attribute chain still ends at 0xFFFFFFFF
	}
	if first < 42 || first%8 != 0 || first >= used {
		return nil, fmt.Errorf("%w: first attribute at %d", ErrCorrupt, first)
	}
	for off := first; ; {
		if off+4 > used {
			return rec, fmt.Errorf("%w: attributes run past the record's %d used bytes without an end marker", ErrCorrupt, used)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == attrEnd {
			return rec, nil
		}
		if off+16 > used {
			return rec, fmt.Errorf("%w: attribute at %d cut off", ErrCorrupt, off)
		}
		ln := int(binary.LittleEndian.Uint32(b[off+4:]))
		if ln < 24 || ln%8 != 0 || off+ln > used {
			return rec, fmt.Errorf("%w: attribute %#x at %d has length %d", ErrCorrupt, typ, off, ln)
		}
		a, err := parseAttr(b[off : off+ln])
		if err != nil {
			return rec, fmt.Errorf("attribute %#x at %d: %w", typ, off, err)
		}
		rec.Attrs = append(rec.Attrs, a)
		off += ln
	}
}

// applyFixups checks and undoes the update sequence array: the last two
// bytes of every 512-byte stride were replaced by the update sequence
// number when the record was written, and their real values kept in the
// array. A mismatch means a torn write.
func applyFixups(b []byte) error {
	usaOff := int(binary.LittleEndian.Uint16(b[4:]))
	usaCount := int(binary.LittleEndian.Uint16(b[6:]))
	strides := len(b) / fixupSector
	if usaCount != strides+1 || usaOff < 40 || usaOff%2 != 0 || usaOff+2*usaCount > len(b) {
		return fmt.Errorf("%w: update sequence array at %d with %d entries for %d strides", ErrCorrupt, usaOff, usaCount, strides)
	}
	usn := b[usaOff : usaOff+2]
	for i := 0; i < strides; i++ {
		end := (i+1)*fixupSector - 2
		if !bytes.Equal(b[end:end+2], usn) {
			return fmt.Errorf("%w: fixup of stride %d does not match (torn write)", ErrCorrupt, i)
		}
	}
	for i := 0; i < strides; i++ {
		end := (i+1)*fixupSector - 2
		copy(b[end:end+2], b[usaOff+2+2*i:])
	}
	return nil
}

// parseAttr decodes one attribute (b is exactly its length).
func parseAttr(b []byte) (Attr, error) {
	a := Attr{
		Type:        binary.LittleEndian.Uint32(b[0:]),
		NonResident: b[8] != 0,
		Flags:       binary.LittleEndian.Uint16(b[12:]),
		Instance:    binary.LittleEndian.Uint16(b[14:]),
	}
	if nl := int(b[9]); nl > 0 {
		no := int(binary.LittleEndian.Uint16(b[10:]))
		if no+2*nl > len(b) {
			return a, fmt.Errorf("%w: name runs past the attribute", ErrCorrupt)
		}
		a.Name = utf16String(b[no : no+2*nl])
	}
	if !a.NonResident {
		vl := int(binary.LittleEndian.Uint32(b[16:]))
		vo := int(binary.LittleEndian.Uint16(b[20:]))
		if vo < 24 || vo > len(b) || vl > len(b)-vo {
			return a, fmt.Errorf("%w: resident value %d bytes at %d runs past the attribute", ErrCorrupt, vl, vo)
		}
		a.Value = b[vo : vo+vl]
		return a, nil
	}
	if len(b) < 64 {
		return a, fmt.Errorf("%w: non-resident attribute of %d bytes", ErrCorrupt, len(b))
	}
	a.LowVCN = int64(binary.LittleEndian.Uint64(b[16:]))
	a.HighVCN = int64(binary.LittleEndian.Uint64(b[24:]))
	ro := int(binary.LittleEndian.Uint16(b[32:]))
	a.AllocSize = int64(binary.LittleEndian.Uint64(b[40:]))
	a.DataSize = int64(binary.LittleEndian.Uint64(b[48:]))
	a.InitSize = int64(binary.LittleEndian.Uint64(b[56:]))
	if ro < 64 || ro > len(b) || a.LowVCN < 0 || a.HighVCN < a.LowVCN-1 || a.DataSize < 0 || a.InitSize < 0 || a.AllocSize < 0 {
		return a, fmt.Errorf("%w: non-resident header (runlist at %d, VCN %d-%d, sizes %d/%d/%d)", ErrCorrupt, ro, a.LowVCN, a.HighVCN, a.AllocSize, a.DataSize, a.InitSize)
	}
	a.Runs = b[ro:]
	return a, nil
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Run is one decoded runlist entry, in clusters. LCN is -1 for a sparse run.
type Run struct {
	VCN, LCN, Length int64
}

// DecodeRuns decodes a runlist (mapping pairs) starting at VCN lowVCN.
// It stops at the terminating zero byte, and fails on runs that overflow,
// point outside [0, clusters) or would exceed max runs.
func DecodeRuns(b []byte, lowVCN, clusters int64, maxRuns int) ([]Run, error) {
	var out []Run
	vcn, lcn := lowVCN, int64(0)
	for i := 0; ; {
		if i >= len(b) {
			return out, fmt.Errorf("%w: runlist has no terminator", ErrCorrupt)
		}
		h := b[i]
		if h == 0 {
			return out, nil
		}
		ll, ol := int(h&0x0F), int(h>>4)
		if ll == 0 || ll > 8 || ol > 8 || i+1+ll+ol > len(b) {
			return out, fmt.Errorf("%w: runlist entry at %d has header %#x", ErrCorrupt, i, h)
		}
		length := leInt(b[i+1:i+1+ll], false)
		if length <= 0 || length > clusters {
			return out, fmt.Errorf("%w: run of %d clusters at VCN %d", ErrCorrupt, length, vcn)
		}
		r := Run{VCN: vcn, LCN: -1, Length: length}
		if ol > 0 {
			delta := leInt(b[i+1+ll:i+1+ll+ol], true)
			lcn += delta
			if lcn < 0 || lcn >= clusters || length > clusters-lcn {
				return out, fmt.Errorf("%w: run at VCN %d points to clusters %d+%d, outside the volume's %d", ErrCorrupt, vcn, lcn, length, clusters)
			}
			r.LCN = lcn
		}
		if len(out) >= maxRuns {
			return out, fmt.Errorf("%w: more than %d runs", ErrCorrupt, maxRuns)
		}
		out = append(out, r)
		vcn += length
		i += 1 + ll + ol
	}
}

// leInt reads a little-endian integer of 1..8 bytes, sign-extended when signed.
func leInt(b []byte, signed bool) int64 {
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	if signed && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
		u |= ^uint64(0) << (8 * len(b))
	}
	return int64(u)
}

// FileName is a decoded $FILE_NAME value.
type FileName struct {
	Parent    int64
	ParentSeq uint16
	Name      string
	Namespace uint8 // 0 POSIX, 1 Win32, 2 DOS, 3 Win32+DOS
	Modified  time.Time
}

// ParseFileName decodes a $FILE_NAME attribute value.
func ParseFileName(b []byte) (FileName, error) {
	if len(b) < 66 {
		return FileName{}, fmt.Errorf("%w: $FILE_NAME of %d bytes", ErrCorrupt, len(b))
	}
	n := int(b[64])
	if 66+2*n > len(b) {
		return FileName{}, fmt.Errorf("%w: $FILE_NAME name of %d characters runs past its %d bytes", ErrCorrupt, n, len(b))
	}
	ref := binary.LittleEndian.Uint64(b[0:])
	return FileName{
		Parent:    int64(ref & 0xFFFFFFFFFFFF),
		ParentSeq: uint16(ref >> 48),
		Name:      utf16String(b[66 : 66+2*n]),
		Namespace: b[65],
		Modified:  ntfsTime(binary.LittleEndian.Uint64(b[16:])),
	}, nil
}

// ntfsTime converts 100 ns ticks since 1601 to a time.
func ntfsTime(t uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns ticks
	if t < epochDiff || t > epochDiff+(1<<62) {
		return time.Time{}
	}
	d := t - epochDiff
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// bestName picks the long name of a record: Win32 or POSIX over DOS 8.3.
func bestName(rec *Record) (FileName, bool) {
	var best FileName
	found := false
	for _, a := range rec.Attrs {
		if a.Type != AttrFileName || a.NonResident {
			continue
		}
		fn, err := ParseFileName(a.Value)
		if err != nil {
			continue
		}
		if !found || (best.Namespace == 2 && fn.Namespace != 2) {
			best, found = fn, true
		}
	}
	return best, found
}

// dataOf gathers the unnamed $DATA attribute of a base record into a
// file: its size and extents, following $ATTRIBUTE_LIST into extension
// records. Problems that leave the file incomplete become notes.
func (v *Volume) dataOf(rec *Record) (*fsmeta.File, error) {
	return v.dataWith(rec, nil)
}

// dataWith is dataOf with the extension records found by their base
// reference (orphans), used for VCN ranges the attribute list does not
// name: ntfs-3g can leave a list on disk that misses the last extension
// record it added.
func (v *Volume) dataWith(rec *Record, orphans []extension) (*fsmeta.File, error) {
	f := &fsmeta.File{FS: "ntfs", ID: fmt.Sprintf("MFT record %d", rec.Number)}
	parts := v.dataParts(rec, f)
	// Only extension records of this use of the base record: deletion
	// bumps the base's sequence number once, reuse bumps it again.
	var mine []extension
	for _, o := range orphans {
		if o.baseSeq == rec.Sequence || o.baseSeq+1 == rec.Sequence {
			mine = append(mine, o)
		}
	}
	parts = addOrphans(parts, mine, f)
	if len(parts) == 0 {
		return f, fmt.Errorf("%w: no unnamed $DATA attribute", ErrCorrupt)
	}
	first := parts[0]
	if !first.NonResident {
		f.Size = int64(len(first.Value))
		f.Notes = append(f.Notes, "resident data (stored inside the MFT record)")
		return f, nil
	}
	if first.Flags&0x00FF != 0 {
		return f, fmt.Errorf("%w: compressed $DATA", ErrUnsupported)
	}
	if first.Flags&0x4000 != 0 {
		return f, fmt.Errorf("%w: encrypted $DATA", ErrUnsupported)
	}
	// The first part (lowest VCN 0) carries the sizes.
	f.Size = first.DataSize
	init := min(first.InitSize, first.DataSize)
	f.Complete = true
	next := int64(0)
	for _, a := range parts {
		if !a.NonResident {
			continue
		}
		if a.LowVCN != next {
			f.Complete = false
			f.Notes = append(f.Notes, fmt.Sprintf("runlist piece for VCN %d missing (next piece starts at %d)", next, a.LowVCN))
			if a.LowVCN < next {
				continue
			}
		}
		runs, err := DecodeRuns(a.Runs, a.LowVCN, v.Clusters, MaxExtents)
		if err != nil {
			f.Complete = false
			f.Notes = append(f.Notes, err.Error())
		}
		for _, r := range runs {
			e := fsmeta.Extent{Logical: r.VCN * v.ClusterSize, Physical: r.LCN * v.ClusterSize, Length: r.Length * v.ClusterSize, Zero: r.LCN < 0}
			if e.Zero {
				e.Physical = 0
			}
			// Bytes past the initialized size read as zeros.
			if !e.Zero && e.Logical+e.Length > init {
				if keep := max(init-e.Logical, 0); keep > 0 {
					f.Append(fsmeta.Extent{Logical: e.Logical, Physical: e.Physical, Length: keep}, MaxExtents)
				}
				e = fsmeta.Extent{Logical: e.Logical + max(init-e.Logical, 0), Length: e.Length - max(init-e.Logical, 0), Zero: true}
			}
			if !f.Append(e, MaxExtents) {
				f.Complete = false
				f.Notes = append(f.Notes, fmt.Sprintf("more than %d runs", MaxExtents))
				break
			}
		}
		next = a.HighVCN + 1
	}
	f.Trim()
	if f.Stored() < f.Size {
		f.Complete = false
		f.Notes = append(f.Notes, fmt.Sprintf("runs map %d of %d bytes", f.Stored(), f.Size))
	}
	return f, nil
}

// dataParts returns the unnamed $DATA attribute pieces of rec, in VCN
// order, reading extension records named by its $ATTRIBUTE_LIST.
func (v *Volume) dataParts(rec *Record, f *fsmeta.File) []Attr {
	var list *Attr
	var parts []Attr
	for i := range rec.Attrs {
		a := &rec.Attrs[i]
		switch {
		case a.Type == AttrAttributeList:
			list = a
		case a.Type == AttrData && a.Name == "":
			parts = append(parts, *a)
		}
	}
	if list == nil {
		sortParts(parts)
		return parts
	}
	raw := list.Value
	if list.NonResident {
		var err error
		raw, err = v.readNonResident(list, MaxAttrListBytes)
		if err != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("$ATTRIBUTE_LIST: %v", err))
			sortParts(parts)
			return parts
		}
	}
	entries, err := ParseAttrList(raw)
	if err != nil {
		f.Notes = append(f.Notes, fmt.Sprintf("$ATTRIBUTE_LIST: %v", err))
	}
	seen := map[int64]bool{rec.Number: true}
	var used []int64
	defer func() {
		if len(used) > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("$DATA runs gathered through $ATTRIBUTE_LIST from extension records %v", used))
		}
	}()
	for _, e := range entries {
		if e.Type != AttrData || e.Name != "" || seen[e.Record] {
			continue
		}
		seen[e.Record] = true // each extension record is read once: a list naming one twice (or itself) cannot loop
		ext, err := v.Record(e.Record)
		if err != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("extension record %d: %v", e.Record, err))
			continue
		}
		if ext.Base != rec.Number {
			f.Notes = append(f.Notes, fmt.Sprintf("extension record %d belongs to record %d now (reused)", e.Record, ext.Base))
			continue
		}
		for _, a := range ext.Attrs {
			if a.Type == AttrData && a.Name == "" {
				parts = append(parts, a)
			}
		}
		used = append(used, e.Record)
	}
	sortParts(parts)
	return parts
}

// extension is an extension record's unnamed $DATA piece, found by
// scanning the $MFT for records whose base reference names the file.
type extension struct {
	record  int64
	baseSeq uint16
	attr    Attr
}

// addOrphans adds pieces from extension records the list did not name,
// for VCN ranges no piece covers yet.
func addOrphans(parts []Attr, orphans []extension, f *fsmeta.File) []Attr {
	var added []int64
	for _, o := range orphans {
		covered := false
		for _, p := range parts {
			if p.NonResident && o.attr.LowVCN >= p.LowVCN && o.attr.LowVCN <= p.HighVCN {
				covered = true
				break
			}
		}
		if !covered {
			parts = append(parts, o.attr)
			added = append(added, o.record)
		}
	}
	if len(added) > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("$DATA runs from extension records %v found by their base reference ($ATTRIBUTE_LIST does not name them)", added))
		sortParts(parts)
	}
	return parts
}

func sortParts(p []Attr) {
	// insertion sort: a handful of pieces, and a stable order for equal VCNs
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].LowVCN < p[j-1].LowVCN; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// AttrListEntry is one entry of an $ATTRIBUTE_LIST.
type AttrListEntry struct {
	Type     uint32
	Name     string
	LowVCN   int64
	Record   int64
	Instance uint16
}

// ParseAttrList decodes an $ATTRIBUTE_LIST value.
func ParseAttrList(b []byte) ([]AttrListEntry, error) {
	var out []AttrListEntry
	for off := 0; off+26 <= len(b); {
		ln := int(binary.LittleEndian.Uint16(b[off+4:]))
		if ln < 26 || off+ln > len(b) {
			return out, fmt.Errorf("%w: attribute list entry at %d has length %d", ErrCorrupt, off, ln)
		}
		e := AttrListEntry{
			Type:     binary.LittleEndian.Uint32(b[off:]),
			LowVCN:   int64(binary.LittleEndian.Uint64(b[off+8:])),
			Record:   int64(binary.LittleEndian.Uint64(b[off+16:]) & 0xFFFFFFFFFFFF),
			Instance: binary.LittleEndian.Uint16(b[off+24:]),
		}
		if nl, no := int(b[off+6]), int(b[off+7]); nl > 0 {
			if no+2*nl > ln {
				return out, fmt.Errorf("%w: attribute list entry at %d: name runs past the entry", ErrCorrupt, off)
			}
			e.Name = utf16String(b[off+no : off+no+2*nl])
		}
		if len(out) >= MaxAttrListEntries {
			return out, fmt.Errorf("%w: more than %d attribute list entries", ErrCorrupt, MaxAttrListEntries)
		}
		out = append(out, e)
		off += ln
	}
	return out, nil
}

// readNonResident reads a small non-resident attribute (at most limit bytes).
func (v *Volume) readNonResident(a *Attr, limit int64) ([]byte, error) {
	if a.DataSize > limit {
		return nil, fmt.Errorf("%w: %d bytes (more than %d)", ErrCorrupt, a.DataSize, limit)
	}
	runs, err := DecodeRuns(a.Runs, a.LowVCN, v.Clusters, MaxExtents)
	if err != nil {
		return nil, err
	}
	out := make([]byte, a.DataSize)
	for _, r := range runs {
		lo := r.VCN * v.ClusterSize
		if lo >= a.DataSize {
			break
		}
		n := min(r.Length*v.ClusterSize, a.DataSize-lo)
		if r.LCN < 0 {
			continue
		}
		if _, err := v.r.ReadAt(out[lo:lo+n], r.LCN*v.ClusterSize); err != nil {
			return nil, fmt.Errorf("ntfs: reading cluster %d: %w", r.LCN, err)
		}
	}
	return out, nil
}

// loadBitmap reads $Bitmap (record 6) into memory.
func (v *Volume) loadBitmap() {
	rec, err := v.Record(recordBitmap)
	if err != nil {
		v.BitmapNote = fmt.Sprintf("$Bitmap record: %v", err)
		return
	}
	for i := range rec.Attrs {
		a := &rec.Attrs[i]
		if a.Type != AttrData || a.Name != "" {
			continue
		}
		if !a.NonResident {
			v.bitmap = append([]byte(nil), a.Value...)
			return
		}
		need := (v.Clusters + 7) / 8
		if a.DataSize < need {
			v.BitmapNote = fmt.Sprintf("$Bitmap holds %d bytes, the volume needs %d", a.DataSize, need)
			return
		}
		b, err := v.readNonResident(a, min(MaxBitmapBytes, need+(1<<20)))
		if err != nil {
			v.BitmapNote = fmt.Sprintf("$Bitmap: %v", err)
			return
		}
		v.bitmap = b
		return
	}
	v.BitmapNote = "$Bitmap has no data attribute"
}

// Allocated reports whether a cluster is marked in use in $Bitmap;
// clusters the map does not cover (or an unreadable map) count as used.
func (v *Volume) Allocated(lcn int64) bool {
	if lcn < 0 || lcn/8 >= int64(len(v.bitmap)) {
		return true
	}
	return v.bitmap[lcn/8]&(1<<(lcn%8)) != 0
}

// AllFree reports whether every data cluster of f (extents relative to
// the volume) is free in $Bitmap. It costs a bit test per cluster, so
// callers ask it only for the files they recover.
func (v *Volume) AllFree(f *fsmeta.File) bool {
	if v.bitmap == nil {
		return false
	}
	return fsmeta.AllFree(f, 0, v.ClusterSize, func(c int64) bool { return !v.Allocated(c) })
}

// Progress is called during Deleted with records done and total.
type Progress func(done, total int64)

// Deleted walks every record of the $MFT and returns the files whose
// record is no longer in use but still holds an unnamed $DATA attribute,
// with their names, paths (as far as the parent records still tell) and
// extents. Records that fail to parse are skipped: on a damaged volume
// most of them do not matter, and the ones that do cannot be rebuilt.
// The $MFT is read twice: first for freed extension records (a base
// record's list may not name them all), then for the base records.
func (v *Volume) Deleted(ctx context.Context, progress Progress) ([]*fsmeta.File, error) {
	total := v.Records()
	orphans := map[int64][]extension{}
	err := v.eachFreeRecord(ctx, func(rec *Record) {
		if rec.Base == 0 {
			return
		}
		for _, a := range rec.Attrs {
			if a.Type == AttrData && a.Name == "" && a.NonResident && len(orphans[rec.Base]) < MaxAttrListEntries {
				a.Runs = append([]byte(nil), a.Runs...) // the record buffer is reused
				orphans[rec.Base] = append(orphans[rec.Base], extension{rec.Number, rec.BaseSeq, a})
			}
		}
	}, func(done int64) {
		if progress != nil {
			progress(done/2, total)
		}
	})
	if err != nil {
		return nil, err
	}
	var out []*fsmeta.File
	v.indexRuns, v.otherRuns, v.indexMax, v.indexSorted, v.indexCapped = nil, nil, 0, false, false
	err = v.eachFreeRecord(ctx, func(rec *Record) {
		v.noteIndexRuns(rec)
		if rec.Base != 0 || rec.Dir {
			return
		}
		if f := v.deletedFile(rec, orphans[rec.Number]); f != nil {
			out = append(out, f)
		}
	}, func(done int64) {
		if progress != nil {
			progress((total+done)/2, total)
		}
	})
	return out, err
}

// eachFreeRecord calls fn for every record not in use that parses, in
// order; the record's bytes are only valid during the call.
func (v *Volume) eachFreeRecord(ctx context.Context, fn func(*Record), progress func(int64)) error {
	total := v.Records()
	// Read the $MFT in large pieces: one record per read is slow on a disk.
	const batch = 1024
	buf := make([]byte, batch*v.RecordSize)
	for first := int64(0); first < total; first += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, total-first)
		for i := int64(0); i < n; i++ {
			off, ok := v.recordOffset(first + i)
			b := buf[i*v.RecordSize : (i+1)*v.RecordSize]
			if !ok {
				clear(b)
				continue
			}
			if _, err := v.r.ReadAt(b, off); err != nil {
				clear(b)
			}
		}
		for i := int64(0); i < n; i++ {
			b := buf[i*v.RecordSize : (i+1)*v.RecordSize]
			if !bytes.Equal(b[:4], []byte("FILE")) {
				continue
			}
			rec, err := ParseRecord(b)
			if err != nil || rec == nil || rec.InUse {
				continue
			}
			rec.Number = first + i
			fn(rec)
		}
		progress(first + n)
	}
	return nil
}

// deletedFile turns a deleted base record into a file, nil when it has no data.
func (v *Volume) deletedFile(rec *Record, orphans []extension) *fsmeta.File {
	f, err := v.dataWith(rec, orphans)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			f.Notes = append(f.Notes, err.Error())
			f.Complete = false
		} else {
			return nil
		}
	}
	if fn, ok := bestName(rec); ok {
		f.Name = fn.Name
		f.Modified = fn.Modified
		f.Path = v.path(fn)
	}
	for _, a := range rec.Attrs {
		if a.Type == AttrStandardInformation && len(a.Value) >= 24 {
			if t := ntfsTime(binary.LittleEndian.Uint64(a.Value[8:])); !t.IsZero() {
				f.Modified = t
			}
		}
	}
	if v.bitmap == nil {
		f.Notes = append(f.Notes, "cluster allocation unknown: "+v.BitmapNote)
	}
	return f
}

// path builds the path of a name from its parent records, as far as they
// still name the same directory (sequence numbers match).
func (v *Volume) path(fn FileName) string {
	p := fn.Name
	parent, seq := fn.Parent, fn.ParentSeq
	for depth := 0; parent != recordRoot; depth++ {
		if depth == MaxPathDepth {
			return "…/" + p
		}
		rec, err := v.Record(parent)
		if err != nil || rec.Sequence != seq && rec.Sequence != seq+1 { // deletion bumps the sequence number
			return "?/" + p
		}
		dn, ok := bestName(rec)
		if !ok {
			return "?/" + p
		}
		p = dn.Name + "/" + p
		parent, seq = dn.Parent, dn.ParentSeq
	}
	return "/" + p
}
