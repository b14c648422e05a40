package core

import (
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want time.Time // zero: absent
	}{
		{time.Time{}, time.Time{}},
		// The epoch and the nanosecond before it are times, not absent.
		{time.Unix(0, 0), time.Unix(0, 0)},
		{time.Unix(0, -1), time.Unix(0, -1)},
		{time.Unix(0, 1), time.Unix(0, 1)},
		// The zone is not kept, the instant is.
		{time.Date(2024, 3, 9, 14, 15, 16, 250_000_000, time.FixedZone("", -7*3600)), time.Date(2024, 3, 9, 21, 15, 16, 250_000_000, time.UTC)},
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		// UDF years beyond int64 nanoseconds are clamped to its range.
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Unix(maxTimestampSec, 0)},
		{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Unix(minTimestampSec, 0)},
		{time.Date(-32768, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(minTimestampSec, 0)},
	} {
		ts := TimestampOf(tc.in)
		if ts.IsZero() != tc.want.IsZero() {
			t.Errorf("TimestampOf(%v).IsZero() = %v", tc.in, ts.IsZero())
			continue
		}
		if got := ts.Time(); !got.Equal(tc.want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("TimestampOf(%v).Time() = %v, want %v", tc.in, got, tc.want)
		}
		if !tc.want.IsZero() && ts.UnixNano() != tc.want.UnixNano() {
			t.Errorf("TimestampOf(%v).UnixNano() = %d, want %d", tc.in, ts.UnixNano(), tc.want.UnixNano())
		}
	}
	if s := (Timestamp{}).String(); s != "-" {
		t.Errorf("absent String() = %q", s)
	}
	if s := TimestampOf(time.Date(2024, 3, 9, 14, 15, 16, 0, time.UTC)).String(); s != "2024-03-09T14:15:16Z" {
		t.Errorf("String() = %q", s)
	}
}

func TestPathElement(t *testing.T) {
	for in, want := range map[string]string{
		"":              "_",
		".":             "_",
		"..":            "__",
		"...":           "...",
		"a/b":           "a_b",
		"nul\x00x":      "nul_x",
		"/":             "_",
		"latin1-\xe9":   "latin1-\xe9", // raw bytes of old discs stay as recorded
		"ok name.txt":   "ok name.txt",
		"\xff/\xfe\x00": "\xff_\xfe_",
	} {
		if got := PathElement(in); got != want {
			t.Errorf("PathElement(%q) = %q, want %q", in, got, want)
		}
	}
}
