package usbboot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNotPE means the bytes are not a PE image.
var ErrNotPE = errors.New("usbboot: not a PE image")

// PE machine types (IMAGE_FILE_MACHINE_*) that UEFI firmware runs.
const (
	MachineI386        = 0x014c
	MachineARMThumb2   = 0x01c4
	MachineIA64        = 0x0200
	MachineAMD64       = 0x8664
	MachineARM64       = 0xaa64
	MachineRISCV64     = 0x5064
	MachineLoongArch64 = 0x6264
)

// subsystemEFIApplication is IMAGE_SUBSYSTEM_EFI_APPLICATION.
const subsystemEFIApplication = 10

// maxPEOffset bounds where the PE header may start: the DOS stub of real
// binaries is a few hundred bytes; a hostile e_lfanew is not followed far.
const maxPEOffset = 1 << 16

// PEHeader is what this package reads of a PE image.
type PEHeader struct {
	Machine uint16
	// Arch is the UEFI name of the machine: "x64", "ia32", "arm64",
	// "arm", "ia64", "riscv64", "loongarch64", or "0x…".
	Arch string
	// EFIApplication reports the EFI application subsystem.
	EFIApplication bool
	// PE32Plus reports the 64-bit optional header.
	PE32Plus bool
}

// ReadPEHeader reads the DOS header, the PE signature, the COFF file
// header and the optional header's magic and subsystem from r. It reads
// nothing else (Go's debug/pe would also load section, symbol and string
// tables, sized by the file, to answer the same question).
func ReadPEHeader(r io.ReaderAt) (*PEHeader, error) {
	var dos [64]byte
	if _, err := r.ReadAt(dos[:], 0); err != nil {
		return nil, fmt.Errorf("%w: DOS header: %v", ErrNotPE, err)
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return nil, fmt.Errorf("%w: no MZ signature", ErrNotPE)
	}
	off := int64(binary.LittleEndian.Uint32(dos[0x3c:]))
	if off < 4 || off > maxPEOffset {
		return nil, fmt.Errorf("%w: PE header offset %d", ErrNotPE, off)
	}
	var h [24 + 70]byte
	n, err := r.ReadAt(h[:], off)
	if n < 24 {
		return nil, fmt.Errorf("%w: PE header at byte %d: %v", ErrNotPE, off, err)
	}
	if string(h[:4]) != "PE\x00\x00" {
		return nil, fmt.Errorf("%w: no PE signature at byte %d", ErrNotPE, off)
	}
	p := &PEHeader{Machine: binary.LittleEndian.Uint16(h[4:])}
	p.Arch = ArchName(p.Machine)
	optSize := int(binary.LittleEndian.Uint16(h[20:]))
	if optSize >= 70 && n >= 24+70 {
		opt := h[24:]
		switch binary.LittleEndian.Uint16(opt) {
		case 0x10b:
		case 0x20b:
			p.PE32Plus = true
		default:
			return p, nil
		}
		p.EFIApplication = binary.LittleEndian.Uint16(opt[68:]) == subsystemEFIApplication
	}
	return p, nil
}

// ArchName is the UEFI name of a PE machine type, as in the removable
// media boot file names (BOOTX64.EFI, BOOTIA32.EFI, BOOTAA64.EFI, …).
func ArchName(m uint16) string {
	switch m {
	case MachineAMD64:
		return "x64"
	case MachineI386:
		return "ia32"
	case MachineARM64:
		return "arm64"
	case MachineARMThumb2:
		return "arm"
	case MachineIA64:
		return "ia64"
	case MachineRISCV64:
		return "riscv64"
	case MachineLoongArch64:
		return "loongarch64"
	}
	return fmt.Sprintf("0x%04x", m)
}
