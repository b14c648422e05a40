package units

import (
	"errors"
	"math"
	"testing"
)

func TestParseBytes(t *testing.T) {
	good := map[string]int64{
		"0": 0, "4096": 4096, "2M": 2 << 20, "2m": 2 << 20, "4MiB": 4 << 20, "4mib": 4 << 20,
		"1G": 1 << 30, "1 GiB": 1 << 30, "512k": 512 << 10, "64KB": 64 << 10, "3MB": 3 << 20,
		"1T": 1 << 40, "100b": 100, " 8M ": 8 << 20,
	}
	for s, want := range good {
		got, err := ParseBytes(s)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "M", "-1", "1.5M", "2X", "0x10", "9223372036854775807K", "1e6"} {
		if n, err := ParseBytes(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseBytes(%q) = %d, %v; want ErrSyntax", s, n, err)
		}
	}
	if n, err := ParseBytes("9223372036854775807"); err != nil || n != math.MaxInt64 {
		t.Errorf("max int64: %d, %v", n, err)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		4 << 20: "4.0 MiB", 5<<30 + 1<<29: "5.5 GiB", -2048: "-2.0 KiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 4096: "4KiB", 4 << 20: "4MiB", 1536: "1536", 1 << 30: "1GiB", 3 << 40: "3TiB"} {
		got := Exact(n)
		if got != want {
			t.Errorf("Exact(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseBytes(got); err != nil || back != n {
			t.Errorf("ParseBytes(Exact(%d)) = %d, %v", n, back, err)
		}
	}
}
