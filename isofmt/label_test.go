package isofmt

import (
	"testing"

	"github.com/isofsd/isofsd/isofmt/udf"
)

// TestInfoLabel: the label is the primary descriptor's volume identifier,
// and the UDF logical volume identifier only on media without one.
func TestInfoLabel(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		want string
	}{
		{"iso9660", Info{VolumeID: "DEMO", Primary: &VolumeDescriptor{VolumeID: "DEMO"}}, "DEMO"},
		{"bridge", Info{VolumeID: "CCCOMA_X64", Primary: &VolumeDescriptor{VolumeID: "CCCOMA_X64"}, UDF: &udf.Info{LogicalVolumeID: "Other"}}, "CCCOMA_X64"},
		{"udf only", Info{UDF: &udf.Info{LogicalVolumeID: "BDROM"}}, "BDROM"},
		{"none", Info{}, ""},
	} {
		if got := tc.in.Label(); got != tc.want {
			t.Errorf("%s: Label() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
