// Package units reads and prints byte sizes the one way isofsd does
// everywhere: every size flag is parsed by ParseBytes, every size shown to
// a person is formatted by Bytes.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by ParseBytes for text that is not a size.
var ErrSyntax = errors.New("want a number of bytes with an optional K, M, G or T suffix (binary: 2M = 2 MiB = 2097152)")

// suffixes are matched longest first. Every multiple is binary, KB and MB
// included: sizes here are block sizes, caches and read sizes, where a
// decimal 4 MB (not a multiple of 4096) would only ever be a mistake.
var suffixes = []struct {
	s string
	m int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"tb", 1 << 40},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseBytes reads "4096", "512k", "2M", "4MiB", "1G", "1 GiB"
// (case-insensitive; every multiple binary).
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, suf := range suffixes {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: %w", s, ErrSyntax)
	}
	return n * mult, nil
}

// Bytes formats n with binary units for people: "512 B", "1.5 KiB",
// "4.0 MiB", "1.2 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%s%.1f %ciB", neg, float64(n)/float64(div), "KMGTPE"[exp])
}

// Exact formats n as the shortest exact form ParseBytes reads back:
// "4MiB" for 4194304, "1536" for 1536. Flag defaults are shown this way.
func Exact(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
