package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseByteSize reads sizes such as "1048576", "512k", "4M", "4MiB",
// "1G" (binary multiples, case-insensitive) and checks them against
// [lo, hi]. Every size flag of the CLI goes through it.
func parseByteSize(s string, lo, hi int64) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > hi/mult || n*mult < lo {
		return 0, fmt.Errorf("size %q: want a number from %d to %d bytes, with an optional K, M or G suffix", s, lo, hi)
	}
	return n * mult, nil
}

// parseCacheSize reads a --cache-size value (0 means the default).
func parseCacheSize(s string) (int64, error) { return parseByteSize(s, 0, 1<<40) }
