package fatfs

import "time"

// FAT timestamps: a date (years since 1980, month, day) and a time in
// two-second steps, plus a creation time refinement in 10 ms units. The
// range is 1980-01-01 to 2107-12-31; times outside are clamped.

var (
	minTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
)

func clampTime(t time.Time) time.Time {
	t = t.UTC()
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// EncodeTime returns t's FAT date, time and 10 ms refinement (0-199).
func EncodeTime(t time.Time) (date, tm uint16, tenths uint8) {
	t = clampTime(t)
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	tenths = uint8(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	return
}

// DecodeTime is the inverse of EncodeTime; an all-zero date is the zero
// time (never set), and impossible fields are clamped.
func DecodeTime(date, tm uint16, tenths uint8) time.Time {
	if date == 0 {
		return time.Time{}
	}
	y := 1980 + int(date>>9)
	mo := time.Month(max(1, min(12, int(date>>5&0xf))))
	d := max(1, int(date&0x1f))
	h := min(23, int(tm>>11))
	mi := min(59, int(tm>>5&0x3f))
	s := min(58, int(tm&0x1f)*2)
	if tenths > 199 {
		tenths = 0
	}
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC).Add(time.Duration(tenths) * 10 * time.Millisecond)
}

// TruncateTime is t as FAT stores a modification time: UTC, clamped,
// whole even seconds.
func TruncateTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	d, tm, _ := EncodeTime(t)
	return DecodeTime(d, tm, 0)
}
