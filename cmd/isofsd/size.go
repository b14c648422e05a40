package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/internal/units"
)

// sizeValue is the flag type of every size flag: one parser
// (units.ParseBytes: 4096, 2M, 4MiB, 1G) and a range, so that a bad value
// is refused while the flags are parsed, in one line naming the flag.
type sizeValue struct {
	p      *int64
	lo, hi int64
}

func (v *sizeValue) Set(s string) error {
	n, err := parseByteSize(s, v.lo, v.hi)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

func (v *sizeValue) String() string { return units.Exact(*v.p) }
func (v *sizeValue) Type() string   { return "size" }

// sizeVar defines a size flag on fl holding def, accepting [lo, hi].
func sizeVar(fl *pflag.FlagSet, p *int64, name string, def, lo, hi int64, usage string) {
	*p = def
	fl.Var(&sizeValue{p: p, lo: lo, hi: hi}, name, usage)
}

// parseByteSize reads a size (units.ParseBytes) and checks it against
// [lo, hi].
func parseByteSize(s string, lo, hi int64) (int64, error) {
	n, err := units.ParseBytes(s)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("size %q: want %s to %s", s, units.Exact(lo), units.Exact(hi))
	}
	return n, nil
}

// parseCacheSize reads a --cache-size value (0 means the default).
func parseCacheSize(s string) (int64, error) { return parseByteSize(s, 0, 1<<40) }
