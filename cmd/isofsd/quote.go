package main

import "github.com/isofsd/isofsd/internal/safetext"

// termSafe is how every string an image, a disk or another user's process
// supplies (names, labels, ids, symlink targets, and messages that quote
// them) reaches the operator's screen: safetext.Term, the one quoting rule
// (printable as it is, else Go-quoted: no C0/C1 control, DEL or format
// character survives). The short names keep the many call sites readable.
func termSafe(s string) string { return safetext.Term(s) }

// isTermSafe reports whether termSafe leaves s as it is.
func isTermSafe(s string) bool { return safetext.IsTerm(s) }
