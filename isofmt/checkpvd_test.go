package isofmt

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestCheckPrimaryDescriptor: a real descriptor passes; each field a
// scanner relies on, broken, fails with the sentinel callers branch on.
func TestCheckPrimaryDescriptor(t *testing.T) {
	img, err := os.ReadFile(isotest.CorpusFile(t, "libcdio/copying.iso"))
	if err != nil {
		t.Fatal(err)
	}
	pvd := img[16*SectorSize : 17*SectorSize]
	if err := CheckPrimaryDescriptor(pvd); err != nil {
		t.Fatalf("real descriptor: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(b []byte)
		want error
	}{
		{"short", nil, ErrNotISO},
		{"supplementary type", func(b []byte) { b[0] = 2 }, ErrNotISO},
		{"identifier", func(b []byte) { b[3] = 'X' }, ErrNotISO},
		{"volume size copies disagree", func(b []byte) { binary.BigEndian.PutUint32(b[84:], 7) }, ErrCorrupt},
		{"block size 4096", func(b []byte) {
			binary.LittleEndian.PutUint16(b[128:], 4096)
			binary.BigEndian.PutUint16(b[130:], 4096)
		}, ErrCorrupt},
		{"empty volume", func(b []byte) { copy(b[80:88], make([]byte, 8)) }, ErrCorrupt},
		{"root record not a directory", func(b []byte) { b[156+25] = 0 }, ErrCorrupt},
	} {
		b := append([]byte(nil), pvd...)
		if c.edit == nil {
			b = b[:100]
		} else {
			c.edit(b)
		}
		if err := CheckPrimaryDescriptor(b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
