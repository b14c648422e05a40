package automp

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkElement fails unless name is one harmless path element.
func checkElement(t *testing.T, label, name string) {
	t.Helper()
	switch {
	case name == "", name == ".", name == "..":
		t.Errorf("Sanitize(%q) = %q: not a usable name", label, name)
	case strings.ContainsAny(name, "/\x00"):
		t.Errorf("Sanitize(%q) = %q: contains / or NUL", label, name)
	case strings.HasPrefix(name, "."):
		t.Errorf("Sanitize(%q) = %q: hidden", label, name)
	case len(name) > MaxName:
		t.Errorf("Sanitize(%q) = %q: %d bytes, over %d", label, name, len(name), MaxName)
	case !utf8.ValidString(name):
		t.Errorf("Sanitize(%q) = %q: invalid UTF-8", label, name)
	case strings.TrimSpace(name) != name:
		t.Errorf("Sanitize(%q) = %q: blanks at an end", label, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("Sanitize(%q) = %q: control or format character %U", label, name, r)
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"DEMO", "DEMO"},
		{"Ubuntu 22.04.3 LTS amd64", "Ubuntu 22.04.3 LTS amd64"},
		{"  CCCOMA_X64FRE_EN-US_DV9  ", "CCCOMA_X64FRE_EN-US_DV9"},
		{"Ünïcödé ディスク", "Ünïcödé ディスク"},
		{"", ""},
		{"   ", ""},
		{"/", ""},
		{"\x00\x01\x02", ""},
		{"\u202e\u200b", ""},
		{".", "_"},
		{"..", "_."},
		{"../x", "_._x"},
		{"../../etc/passwd", "_._.._etc_passwd"},
		{"/etc", "_etc"},
		{".hidden", "_hidden"},
		{"a/b", "a_b"},
		{"nul\x00byte", "nul_byte"},
		{"tab\there", "tab_here"},
		{"line\nbreak", "line_break"},
		{"esc\x1b[31mred", "esc_[31mred"},
		{"del\x7f", "del_"},
		{"c1\u0085x", "c1_x"},
		{"rtl\u202eexe.txt", "rtl_exe.txt"},
		{"zero\u200bwidth", "zero_width"},
		{"bad\xff\xfeutf8", "bad__utf8"},
		{"nbsp\u00a0here", "nbsp here"},
	} {
		got := Sanitize(tc.label)
		if got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.label, got, tc.want)
		}
		if got != "" {
			checkElement(t, tc.label, got)
		}
	}
}

func TestSanitizeLong(t *testing.T) {
	for _, label := range []string{
		strings.Repeat("A", 5000),
		strings.Repeat("é", 1000),        // 2-byte runes: the cut must fall between them
		strings.Repeat("日", 1000),        // 3-byte runes
		strings.Repeat("a", 63) + " b",   // a blank left at the cut is trimmed
		strings.Repeat("/..", 100),       // separators all the way
		strings.Repeat("😀", MaxName/4+3), // 4-byte runes
	} {
		got := Sanitize(label)
		checkElement(t, label[:min(len(label), 20)]+"…", got)
		if len(got) < MaxName-4 {
			t.Errorf("Sanitize(%q…) = %q: cut to %d bytes, want close to %d", label[:20], got, len(got), MaxName)
		}
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ label, image, want string }{
		{"DEMO", "/srv/x.iso", "DEMO"},
		{"", "/srv/debian-12.5.0-amd64-netinst.iso", "debian-12.5.0-amd64-netinst"},
		{"\x00\x01", "/srv/win11.ISO", "win11"},
		{"", "https://mirror.example/a/b/fedora.iso", "fedora"},
		{"", "/srv/.iso", "_iso"},
		{"", "", DefaultName},
		{"   ", "/", DefaultName},
	} {
		if got := Name(tc.label, tc.image); got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.label, tc.image, got, tc.want)
		}
	}
}

// FuzzSanitize: whatever bytes a volume label holds, the name is one
// harmless path element or empty.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"DEMO", "../x", "/", "", ".", "..", "a\x00b", "\u202e", strings.Repeat("é", 40), "\xff\xfe", " .x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		if got := Sanitize(label); got != "" {
			checkElement(t, label, got)
		}
		checkElement(t, label, Name(label, "/srv/"+label+".iso"))
	})
}
