package fsmeta

import "testing"

// TestAllFree: every unit an extent touches is asked, holes are not, and
// data before the first unit or a bad unit size is never free.
func TestAllFree(t *testing.T) {
	used := map[int64]bool{5: true}
	free := func(i int64) bool { return !used[i] }
	for _, c := range []struct {
		name       string
		ext        []Extent
		base, unit int64
		want       bool
	}{
		{"free run", []Extent{{Physical: 1000 + 0, Length: 5 * 100}}, 1000, 100, true},
		{"touches the used unit by one byte", []Extent{{Physical: 1000, Length: 501}}, 1000, 100, false},
		{"starts inside the used unit", []Extent{{Physical: 1599, Length: 1}}, 1000, 100, false},
		{"a hole over it", []Extent{{Logical: 0, Physical: 1000, Length: 500}, {Logical: 500, Length: 100, Zero: true}}, 1000, 100, true},
		{"before the first unit", []Extent{{Physical: 999, Length: 1}}, 1000, 100, false},
		{"unit 0", []Extent{{Physical: 0, Length: 1}}, 0, 0, false},
		{"no extents", nil, 0, 100, true},
	} {
		if got := AllFree(&File{Extents: c.ext}, c.base, c.unit, free); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
