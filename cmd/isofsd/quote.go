package main

import (
	"strconv"
	"unicode/utf8"
)

// termSafe is how every string an image supplies (names, labels, ids,
// symlink targets, and messages that quote them) reaches the operator's
// screen: as it is when every character is printable, else Go-quoted
// ("a\x1b]0;x\a") so that no escape sequence, carriage return, backspace
// or bidirectional override can rewrite the terminal or hide what follows.
// It is the one such function of the CLI.
func termSafe(s string) string {
	if isTermSafe(s) {
		return s
	}
	return strconv.Quote(s)
}

// isTermSafe reports whether s is valid UTF-8 with only printable
// characters and ASCII spaces (strconv.IsPrint: no C0/C1 controls, DEL,
// format characters such as U+202E, or line separators).
func isTermSafe(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}
