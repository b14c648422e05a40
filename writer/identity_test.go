package writer

import (
	"strings"
	"testing"
)

// TestIdentity: the text form survives a command line and comes back
// equal; every field that tells drives apart is reported when it
// differs; text isofsd did not make is refused.
func TestIdentity(t *testing.T) {
	id := Identity{Num: DevNum{8, 16}, Size: 16008609792, Vendor: "SanDisk ", Model: "Cruzer \"Blade\"\n", Serial: "4C53=0001/\x00", BackingFile: ""}
	s := id.String()
	if strings.ContainsAny(s, " =\n\t\"'$") {
		t.Errorf("%q is not one plain command-line word", s)
	}
	back, err := ParseIdentity(s)
	if err != nil || back != id {
		t.Fatalf("round trip: %+v %v, want %+v", back, err, id)
	}
	if m := id.Mismatch(back); m != "" {
		t.Errorf("same drive: %q", m)
	}
	for _, tc := range []struct {
		change func(*Identity)
		want   string
	}{
		{func(i *Identity) { i.Num.Minor = 32 }, "device 8:32"},
		{func(i *Identity) { i.Size = 32017219584 }, "size"},
		{func(i *Identity) { i.Serial = "other" }, `serial "other"`},
		{func(i *Identity) { i.Model = "Ultra" }, `"Ultra"`},
		{func(i *Identity) { i.BackingFile = "/srv/other.img" }, "backed by"},
	} {
		now := id
		tc.change(&now)
		if m := id.Mismatch(now); !strings.Contains(m, tc.want) {
			t.Errorf("%+v: %q, want %q in it", now, m, tc.want)
		}
	}
	for _, bad := range []string{"", "8:16", "drive1.", "drive1.!!!", "drive1." + strings.Repeat("A", maxIdentity), "drive2." + s[len(identityPrefix):]} {
		if _, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%.40q) accepted", bad)
		}
	}
}
