package formaterr

import (
	"errors"
	"testing"
)

func TestError(t *testing.T) {
	sentinel := errors.New("wim: corrupt WIM")
	err := Errorf("wim", "blob table entry 3", 208, sentinel, "size %d beyond the file", 99)
	if got, want := err.Error(), "wim: blob table entry 3 at byte 208: wim: corrupt WIM: size 99 beyond the file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, sentinel) {
		t.Error("errors.Is does not reach the sentinel")
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Offset != 208 || fe.Structure != "blob table entry 3" {
		t.Errorf("errors.As: %+v", fe)
	}
	err = Errorf("fatfs", "FAT", -1, sentinel, "loop")
	if got, want := err.Error(), "fatfs: FAT: wim: corrupt WIM: loop"; got != want {
		t.Errorf("unknown offset: %q, want %q", got, want)
	}
}
