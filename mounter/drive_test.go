package mounter

import (
	"testing"

	"github.com/isofsd/isofsd/mounter/ctlproto"
)

func TestFreeDrive(t *testing.T) {
	all := uint32(1<<26 - 1)
	for _, tc := range []struct {
		inUse uint32
		want  string
		ok    bool
	}{
		{0b1100, "Z:", true},                    // C: and D: taken
		{all &^ (1 << ('Q' - 'A')), "Q:", true}, // only Q: free
		{all &^ 0b111, "", false},               // only A:-C: free: never handed out
		{all, "", false},
	} {
		got, ok := freeDrive(tc.inUse)
		if got != tc.want || ok != tc.ok {
			t.Errorf("freeDrive(%026b) = %q %v, want %q %v", tc.inUse, got, ok, tc.want, tc.ok)
		}
	}
	for s, want := range map[string]bool{"X:": true, "x:": true, "X": false, "XY:": false, "1:": false, `X:\`: false, "/x:": false} {
		if ctlproto.IsDrive(s) != want {
			t.Errorf("IsDrive(%q) = %v", s, !want)
		}
	}
}
