// Package safetext makes text that isofsd did not write itself — names,
// labels and ids from an image or a disk, process names of other users —
// safe to show and to use as a file name. It holds the one rule for each:
//
//   - Term is how such a string reaches a terminal: unchanged when every
//     character is printable, else Go-quoted, so that no escape sequence
//     (C0 or C1, CSI U+009B included), carriage return, backspace or
//     bidirectional/format character (U+202E, U+2066..U+2069, U+200E, ...)
//     can rewrite the screen or hide what follows;
//   - Name turns such a string into one harmless path element: control and
//     format characters, invalid UTF-8 and separators replaced, no "." or
//     ".." or hidden name, a length cap.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Term returns s as it is when every character is printable, else
// Go-quoted ("a\x1b]0;x\a", "rtl\u202etxt.exe").
func Term(s string) string {
	if IsTerm(s) {
		return s
	}
	return strconv.Quote(s)
}

// IsTerm reports whether s is valid UTF-8 made only of printable
// characters and ASCII spaces: strconv.IsPrint refuses C0 and C1
// controls, DEL, every format character (category Cf: bidirectional
// embeddings, overrides and isolates, marks, zero-width joiners) and the
// line and paragraph separators.
func IsTerm(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// Strip drops from s every character Term would have to quote (C0 and C1
// controls, DEL, format characters, invalid UTF-8): for short identity
// strings (a drive's vendor and model) where the visible rest is all
// that matters.
func Strip(s string) string {
	if IsTerm(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError && strconv.IsPrint(r) {
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// Name makes s one path element that shows well in a file manager and a
// terminal, at most max bytes long, or "" when nothing usable is left:
//   - invalid UTF-8, control characters (C0, DEL, C1), invisible format
//     characters (bidirectional overrides, zero-width joiners), "/" and
//     "\" become "_", other blanks a space;
//   - blanks at either end are trimmed, and a string with nothing else
//     left gives "";
//   - a leading "." becomes "_", so that no name is ".", ".." or hidden;
//   - the result is cut to max bytes on a character boundary.
func Name(s string, max int) string {
	var b strings.Builder
	visible := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1, r == '/', r == '\\', r < 0x20, r >= 0x7f && r < 0xa0,
			unicode.Is(unicode.Cf, r), r == 0xfffe || r == 0xffff:
			b.WriteByte('_')
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
			visible = true
		}
	}
	if !visible {
		// Nothing but replacements: a name like "___" says nothing;
		// let the caller fall back to one of its own.
		return ""
	}
	out := strings.TrimSpace(b.String())
	if strings.HasPrefix(out, ".") {
		out = "_" + out[1:]
	}
	if len(out) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = strings.TrimSpace(out[:cut])
	}
	return out
}
