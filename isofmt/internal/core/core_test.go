package core

import "testing"

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
