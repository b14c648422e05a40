package diskio

import "unsafe"

// Align is the memory and offset alignment of direct I/O buffers: O_DIRECT
// wants at least the logical block size, and page alignment satisfies
// every device in use (512- and 4096-byte sectors).
const Align = 4096

// AlignedBuffer returns a buffer of n bytes whose start is Align-aligned.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+Align)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (Align - 1))
	if off != 0 {
		off = Align - off
	}
	return b[off : off+n : off+n]
}

// IsAligned reports whether p starts at an Align boundary.
func IsAligned(p []byte) bool {
	return len(p) == 0 || uintptr(unsafe.Pointer(&p[0]))%Align == 0
}
