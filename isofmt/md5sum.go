package isofmt

// isomd5sum (Fedora's implantisomd5/checkisomd5) stores an MD5 of the image
// as ASCII in the primary volume descriptor's 512-byte application-use area:
//
//	ISO MD5SUM = <32 hex>;SKIPSECTORS = 15;RHLISOSTATUS=0;FRAGMENT SUMS = <60 chars>;FRAGMENT COUNT = 20;...
//
// The MD5 covers the volume (size from the descriptor) minus SKIPSECTORS
// sectors at the end, with the application-use area itself read as spaces.
// The data is hashed in 32 KiB reads; whenever a read starts in a new
// fragment (the data split into FRAGMENT COUNT + 1 parts), the running MD5
// is finalised and the first hex digit of each of its first 60/COUNT bytes
// is compared with the next characters of FRAGMENT SUMS, so damage is found
// before the whole medium is read. The parsing and the checkpoints below
// follow checkisomd5's behaviour, quirks included, so verdicts agree.

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

const (
	// md5AppUseSize is the size of the application-use area.
	md5AppUseSize = 512
	// md5AppUseOffset is where the area lies when the primary descriptor is
	// at sector 16 (checkisomd5 blanks it there).
	md5AppUseOffset = 16*2048 + 883
	// md5SectorSize is the unit of SKIPSECTORS and the volume size.
	md5SectorSize = 2048
	// md5ChunkSize is checkisomd5's read size; fragment checkpoints fall on
	// these boundaries, so it is part of the format.
	md5ChunkSize = 16 * md5SectorSize
	// md5ReadSize is how much is read from the source at a time.
	md5ReadSize = 1 << 20
	// md5FragmentSumSize is the length of the FRAGMENT SUMS value.
	md5FragmentSumSize = 60
	// md5DefaultFragmentCount applies when FRAGMENT COUNT is absent.
	md5DefaultFragmentCount = 20
)

// ImplantedMD5 is the parsed isomd5sum field.
type ImplantedMD5 struct {
	// MD5 is the implanted sum.
	MD5 [16]byte `json:"md5"`
	// SkipSectors is the number of 2048-byte sectors at the end of the
	// volume left out of the sum.
	SkipSectors int64 `json:"skip_sectors"`
	// FragmentSums is the FRAGMENT SUMS value ("" when absent).
	FragmentSums string `json:"fragment_sums"`
	// FragmentCount is the FRAGMENT COUNT value (20 when absent).
	FragmentCount int `json:"fragment_count"`
	// SupportedCheck is "yes" or "no" from RHLISOSTATUS, "" when absent.
	SupportedCheck string `json:"supported_check"`
	// Raw is the area's text up to its first NUL, trailing spaces removed.
	Raw string `json:"raw"`

	md5Text string // the 32 characters as stored: checkisomd5 compares text
}

// MD5Result is the outcome of (*ImplantedMD5).Check.
type MD5Result struct {
	// OK is checkisomd5's verdict: every fragment sum and the MD5 match.
	OK bool `json:"ok"`
	// Computed is the MD5 over the checked data; it is zero when the check
	// stopped early at a bad fragment, as checkisomd5 does.
	Computed [16]byte `json:"computed"`
	// FirstBadFragment is the 0-based number of the first fragment whose
	// sum did not match, -1 if none.
	FirstBadFragment int `json:"first_bad_fragment"`
	// BadRange holds the byte range [start, end) read since the last good
	// checkpoint, which contains the damage of the first bad fragment.
	BadRange [2]int64 `json:"bad_range"`
}

// ParseImplantedMD5 parses the application-use area of a primary volume
// descriptor (512 bytes at descriptor offset 883). It reports false when
// the area holds no isomd5sum data; both "ISO MD5SUM" and "SKIPSECTORS"
// must be present, as checkisomd5 requires.
func ParseImplantedMD5(appUse []byte) (*ImplantedMD5, bool) {
	// checkisomd5 scans a 512-byte copy whose last byte is forced to NUL.
	var buf [md5AppUseSize]byte
	copy(buf[:md5AppUseSize-1], appUse)
	m := &ImplantedMD5{FragmentCount: md5DefaultFragmentCount}
	if i := bytes.IndexByte(buf[:], 0); i >= 0 {
		m.Raw = strings.TrimRight(string(buf[:i]), " ")
	}
	const (
		haveSupported = 1 << iota
		haveFragCount
		haveFragSum
		haveMD5
		haveSkip
		haveAll = 1<<iota - 1
	)
	have := 0
	var supported, fragCount int64 = 0, md5DefaultFragmentCount
	for i := 0; i < md5AppUseSize; i++ {
		rest := buf[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("ISO MD5SUM = ")):
			i += len("ISO MD5SUM = ")
			if i+32 >= md5AppUseSize {
				return nil, false
			}
			m.md5Text = string(buf[i : i+32])
			i += 32
			for i < md5AppUseSize && buf[i] != ';' {
				i++
			}
			have |= haveMD5
		case md5Number(&buf, &i, "SKIPSECTORS = ", &m.SkipSectors):
			if i >= md5AppUseSize {
				return nil, false
			}
			have |= haveSkip
		case md5Number(&buf, &i, "RHLISOSTATUS=", &supported):
			have |= haveSupported
		case bytes.HasPrefix(rest, []byte("FRAGMENT SUMS = ")):
			i += len("FRAGMENT SUMS = ")
			if i+md5FragmentSumSize >= md5AppUseSize {
				return nil, false
			}
			m.FragmentSums = string(buf[i : i+md5FragmentSumSize])
			i += md5FragmentSumSize
			for i < md5AppUseSize && buf[i] != ';' {
				i++
			}
			have |= haveFragSum
		case md5Number(&buf, &i, "FRAGMENT COUNT = ", &fragCount):
			have |= haveFragCount
		}
		if have == haveAll {
			break
		}
	}
	if have&haveMD5 == 0 || have&haveSkip == 0 {
		return nil, false
	}
	// The stored text is compared as text; decode it where it is hex so
	// callers can show it.
	if d, err := hex.DecodeString(m.md5Text); err == nil {
		copy(m.MD5[:], d)
	}
	m.FragmentCount = int(max(min(fragCount, math.MaxInt32), math.MinInt32))
	if have&haveSupported != 0 {
		m.SupportedCheck = "no"
		if supported != 0 {
			m.SupportedCheck = "yes"
		}
	}
	return m, true
}

// md5Number matches "<key><number>;" at *i the way checkisomd5 does: the
// value runs to the next ';' and must be a whole strtol number. On a match
// *i is left on the ';'. Like checkisomd5, the value is stored even when it
// does not parse fully, but then the key does not count as found.
func md5Number(buf *[md5AppUseSize]byte, i *int, key string, v *int64) bool {
	if !bytes.HasPrefix(buf[*i:], []byte(key)) {
		return false
	}
	j := *i + len(key)
	if j >= md5AppUseSize {
		return false
	}
	start := j
	for j < md5AppUseSize && buf[j] != ';' {
		j++
	}
	text := buf[start:j]
	if k := bytes.IndexByte(text, 0); k >= 0 {
		text = text[:k]
	}
	n, used := md5Strtol(text)
	*v = n
	if used != len(text) {
		return false
	}
	*i = j
	return true
}

// md5Strtol parses like C strtol(s, &end, 10): leading white space, an
// optional sign, decimal digits, saturating on overflow. It returns the
// value and the number of bytes consumed (0 when there are no digits).
func md5Strtol(s []byte) (int64, int) {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var n int64
	over := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := int64(s[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			over = true
		} else {
			n = n*10 + d
		}
		i++
	}
	if i == start {
		return 0, 0
	}
	switch {
	case over && neg:
		return math.MinInt64, i
	case over:
		return math.MaxInt64, i
	case neg:
		return -n, i
	}
	return n, i
}

// Check recomputes the implanted sum over the volume of volumeSectors
// 2048-byte sectors and returns checkisomd5's verdict. progress, if not nil,
// is called after every read with the bytes done and the total.
// A source that ends before the checked range returns the partial result
// (OK false) with an error wrapping ErrTruncated; other read errors return
// a nil result.
func (m *ImplantedMD5) Check(r io.ReaderAt, volumeSectors int64, progress func(done, total int64)) (*MD5Result, error) {
	const structure = "implanted md5"
	if volumeSectors < 0 || volumeSectors > math.MaxInt64/md5SectorSize/4 {
		return nil, core.Errorf(structure, -1, core.ErrCorrupt, "volume size of %d sectors", volumeSectors)
	}
	skip := max(min(m.SkipSectors, volumeSectors), -volumeSectors-(1<<20))
	total := (volumeSectors - skip) * md5SectorSize

	count := int64(m.FragmentCount)
	var fragmentSize, perFragment int64
	if count > 0 && m.FragmentSums != "" {
		fragmentSize = total / (count + 1)
		perFragment = md5FragmentSumSize / count
	}

	res := &MD5Result{FirstBadFragment: -1}
	h := md5.New()
	buf := make([]byte, min(md5ReadSize, max(total, 0)))
	var offset, prevFragment, lastGood int64
	var digest [md5.Size]byte
	for offset < total {
		n := int(min(int64(len(buf)), total-offset))
		got, err := r.ReadAt(buf[:n], offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &core.FormatError{Structure: structure, Offset: offset, Err: err}
		}
		m.blankAppUse(buf[:got], offset)
		for c := 0; c < got; c += md5ChunkSize {
			chunk := buf[c:min(got, c+md5ChunkSize)]
			h.Write(chunk)
			at := offset + int64(c)
			if fragmentSize > 0 {
				cur := at / fragmentSize
				if cur != prevFragment {
					h.Sum(digest[:0])
					if !m.fragmentMatches(digest[:], cur, perFragment) {
						res.FirstBadFragment = int(cur - 1)
						res.BadRange = [2]int64{lastGood, at + int64(len(chunk))}
						if progress != nil {
							progress(at+int64(len(chunk)), total)
						}
						return res, nil
					}
					prevFragment = cur
					lastGood = at + int64(len(chunk))
				}
			}
		}
		offset += int64(got)
		if progress != nil {
			progress(offset, total)
		}
		if got < n {
			h.Sum(res.Computed[:0])
			return res, core.Errorf(structure, offset, core.ErrTruncated, "image ends at byte %d, the checksum covers %d bytes", offset, total)
		}
	}
	h.Sum(res.Computed[:0])
	res.OK = hex.EncodeToString(res.Computed[:]) == m.md5Text
	return res, nil
}

// blankAppUse replaces the application-use area inside b (read at image
// offset off) by spaces: the sum was computed before it was written.
func (m *ImplantedMD5) blankAppUse(b []byte, off int64) {
	start := max(int64(md5AppUseOffset)-off, 0)
	end := min(int64(md5AppUseOffset+md5AppUseSize)-off, int64(len(b)))
	for i := start; i < end; i++ {
		b[i] = ' '
	}
}

// fragmentMatches compares the running digest with the sums stored for
// fragment checkpoint cur: for each of the first perFragment bytes, the
// first character of its "%x" rendering.
func (m *ImplantedMD5) fragmentMatches(digest []byte, cur, perFragment int64) bool {
	const digits = "0123456789abcdef"
	j := (cur - 1) * perFragment
	for i := int64(0); i < min(perFragment, md5.Size); i++ {
		b := digest[i]
		c := digits[b>>4]
		if b < 16 {
			c = digits[b]
		}
		// Past the 60 stored characters checkisomd5 compares against the
		// terminating NUL, which never matches.
		if j < 0 || j >= int64(len(m.FragmentSums)) || m.FragmentSums[j] != c {
			return false
		}
		j++
	}
	return true
}

// String summarises the field for display.
func (m *ImplantedMD5) String() string {
	return fmt.Sprintf("md5 %s, skip %d sectors, %d fragments", m.md5Text, m.SkipSectors, m.FragmentCount)
}

// MarshalJSON shows the sum as the text checkisomd5 compares, not as an
// array of numbers.
func (m ImplantedMD5) MarshalJSON() ([]byte, error) {
	type plain ImplantedMD5
	return json.Marshal(struct {
		plain
		MD5 string `json:"md5"`
	}{plain(m), m.md5Text})
}

// MarshalJSON shows the computed sum in hex.
func (r MD5Result) MarshalJSON() ([]byte, error) {
	type plain MD5Result
	return json.Marshal(struct {
		plain
		Computed string `json:"computed"`
	}{plain(r), hex.EncodeToString(r.Computed[:])})
}

// UnmarshalJSON reads what MarshalJSON writes, so `isofsd info --json`
// output can be decoded back into an Info.
func (m *ImplantedMD5) UnmarshalJSON(b []byte) error {
	type plain ImplantedMD5
	var v struct {
		plain
		MD5 string `json:"md5"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = ImplantedMD5(v.plain)
	m.md5Text = v.MD5
	if raw, err := hex.DecodeString(v.MD5); err == nil && len(raw) == len(m.MD5) {
		copy(m.MD5[:], raw)
	}
	return nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *MD5Result) UnmarshalJSON(b []byte) error {
	type plain MD5Result
	var v struct {
		plain
		Computed string `json:"computed"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = MD5Result(v.plain)
	if raw, err := hex.DecodeString(v.Computed); err == nil && len(raw) == len(r.Computed) {
		copy(r.Computed[:], raw)
	}
	return nil
}
