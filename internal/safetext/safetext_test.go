package safetext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTerm(t *testing.T) {
	for in, want := range map[string]string{
		"plain name.txt":     "plain name.txt",
		"ünïcödé 名前":         "ünïcödé 名前",
		"a\x1b]0;pwned\x07b": `"a\x1b]0;pwned\ab"`,
		"cr\rover":           `"cr\rover"`,
		"tab\there":          `"tab\there"`,
		"del\x7f":            `"del\x7f"`,
		"c1\u009bcsi":        `"c1\u009bcsi"`, // C1 CSI: an escape on its own in xterm's 8-bit mode
		"c1\u0085nel":        `"c1\u0085nel"`,
		"bidi\u202eexe.txt":  `"bidi\u202eexe.txt"`, // RIGHT-TO-LEFT OVERRIDE
		"lre\u202aembed":     `"lre\u202aembed"`,
		"iso\u2066late":      `"iso\u2066late"`, // LEFT-TO-RIGHT ISOLATE
		"pdi\u2069":          `"pdi\u2069"`,
		"mark\u200e":         `"mark\u200e"`, // LEFT-TO-RIGHT MARK
		"zw\u200bsp":         `"zw\u200bsp"`,
		"ls\u2028sep":        `"ls\u2028sep"`,
		"bom\ufeff":          `"bom\ufeff"`,
		"bad\xffutf8":        `"bad\xffutf8"`,
		"":                   "",
	} {
		if got := Term(in); got != want {
			t.Errorf("Term(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStrip(t *testing.T) {
	for in, want := range map[string]string{
		"TSSTcorp":                     "TSSTcorp",
		"ünïcödé 名前":                   "ünïcödé 名前",
		"EVIL\x1b[2J":                  "EVIL[2J",
		"M\x07odel\x00":                "Model",
		"c1\u009b31m\u0085":            "c131m",
		"rtl\u202egnp.exe\u2066\u200e": "rtlgnp.exe",
		"bad\xffutf8\x7f":              "badutf8",
	} {
		if got := Strip(in); got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkShown fails if s could act on a terminal: a control character
// other than none at all, or a format character.
func checkShown(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("Term(%q) = %q: invalid UTF-8", in, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 {
			t.Errorf("Term(%q) = %q: keeps %U", in, s, r)
		}
	}
}

// FuzzTerm: whatever the bytes, what Term returns holds no control or
// format character and is the input itself when it is printable.
func FuzzTerm(f *testing.F) {
	for _, s := range []string{"x", "\x1b[2J", "\u009b31m", "\u202e", "\xff", "a\u2066b\u2069"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Term(s)
		checkShown(t, s, got)
		if IsTerm(s) != (got == s) {
			t.Errorf("Term(%q) = %q, IsTerm %v", s, got, IsTerm(s))
		}
		if st := Strip(s); !IsTerm(st) || (IsTerm(s) && st != s) {
			t.Errorf("Strip(%q) = %q", s, st)
		}
	})
}

// checkElement fails unless name is one harmless path element.
func checkElement(t *testing.T, in, name string, max int) {
	t.Helper()
	switch {
	case name == "", name == ".", name == "..":
		t.Errorf("Name(%q) = %q: not a usable name", in, name)
	case strings.ContainsAny(name, "/\\\x00"):
		t.Errorf("Name(%q) = %q: contains a separator or NUL", in, name)
	case strings.HasPrefix(name, "."):
		t.Errorf("Name(%q) = %q: hidden", in, name)
	case len(name) > max:
		t.Errorf("Name(%q) = %q: %d bytes, over %d", in, name, len(name), max)
	case !utf8.ValidString(name):
		t.Errorf("Name(%q) = %q: invalid UTF-8", in, name)
	case strings.TrimSpace(name) != name:
		t.Errorf("Name(%q) = %q: blanks at an end", in, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("Name(%q) = %q: control or format character %U", in, name, r)
		}
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"DEMO", "DEMO"},
		{"Ubuntu 22.04.3 LTS amd64.iso", "Ubuntu 22.04.3 LTS amd64.iso"},
		{"  padded  ", "padded"},
		{"Ünïcödé ディスク", "Ünïcödé ディスク"},
		{"", ""},
		{"\x00\x01\x02", ""},
		{"\u202e\u200b", ""},
		{".", "_"},
		{"..", "_."},
		{"../x", "_._x"},
		{`a\..\b`, "a_.._b"},
		{"evil\x1b[2J\x1b]0;pwned\x07\u202eosi.txt", "evil_[2J_]0;pwned__osi.txt"},
		{"c1\u009bx", "c1_x"},
		{"iso\u2066late\u2069", "iso_late_"},
		{"mark\u200e", "mark_"},
		{"bad\xff\xfeutf8", "bad__utf8"},
		{"nbsp\u00a0here", "nbsp here"},
	} {
		got := Name(tc.in, 200)
		if got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" {
			checkElement(t, tc.in, got, 200)
		}
	}
}

func TestNameLong(t *testing.T) {
	for _, max := range []int{64, 200} {
		for _, in := range []string{
			strings.Repeat("A", 5000),
			strings.Repeat("é", 1000), // 2-byte runes: the cut falls between them
			strings.Repeat("日", 1000), // 3-byte runes
			strings.Repeat("a", max-1) + " b",
			strings.Repeat("/..", 100),
			strings.Repeat("😀", max/4+3),
		} {
			got := Name(in, max)
			checkElement(t, in[:20]+"…", got, max)
			if len(got) < max-4 {
				t.Errorf("Name(%q…, %d) = %q: cut to %d bytes", in[:20], max, got, len(got))
			}
		}
	}
}

// FuzzName: whatever the bytes, the name is one harmless path element
// or empty.
func FuzzName(f *testing.F) {
	for _, s := range []string{"DEMO", "../x", "/", "", ".", "..", "a\x00b", "\u202e", strings.Repeat("é", 40), "\xff\xfe", " .x ", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := Name(s, 64); got != "" {
			checkElement(t, s, got, 64)
		}
	})
}
