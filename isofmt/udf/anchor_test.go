package udf

import (
	"errors"
	"os"
	"testing"

	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// TestCheckAnchor: the anchor of a real UDF image passes at its own
// block and fails anywhere else or with one bit flipped.
func TestCheckAnchor(t *testing.T) {
	img, err := os.ReadFile(corpusFile(t, "libcdio/udf102.iso"))
	if err != nil {
		t.Fatal(err)
	}
	a := img[256*2048 : 257*2048]
	if err := CheckAnchor(a, 256); err != nil {
		t.Fatalf("real anchor: %v", err)
	}
	if err := CheckAnchor(a, 257); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("anchor checked at the wrong block: %v", err)
	}
	b := append([]byte(nil), a...)
	b[20] ^= 1
	if err := CheckAnchor(b, 256); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("flipped bit: %v", err)
	}
	if err := CheckAnchor(a[:8], 256); err == nil {
		t.Errorf("8 bytes accepted")
	}
}
