package writer

import (
	"encoding/binary"
	"errors"
	"strings"
)

// This file decodes the Windows storage IOCTL replies the Windows probe
// receives. It is platform-neutral so that it is tested everywhere.

// storageDescriptor is the part of STORAGE_DEVICE_DESCRIPTOR we use.
type storageDescriptor struct {
	Vendor, Product, Serial string
	BusType                 uint32
	Removable               bool
}

// STORAGE_BUS_TYPE values (winioctl.h).
const (
	busSCSI              = 0x1
	busATA               = 0x3
	busUSB               = 0x7
	busSAS               = 0xA
	busSATA              = 0xB
	busSD                = 0xC
	busMMC               = 0xD
	busVirtual           = 0xE
	busFileBackedVirtual = 0xF
	busNVMe              = 0x11
)

// parseStorageDescriptor decodes STORAGE_DEVICE_DESCRIPTOR:
//
//	0 Version, 4 Size, 8 DeviceType, 9 DeviceTypeModifier, 10 RemovableMedia,
//	11 CommandQueueing, 12 VendorIdOffset, 16 ProductIdOffset,
//	20 ProductRevisionOffset, 24 SerialNumberOffset, 28 BusType,
//	32 RawPropertiesLength
//
// The offsets point at NUL-terminated ASCII strings within the reply; 0
// means absent. Every offset is checked against the reply length.
func parseStorageDescriptor(b []byte) (storageDescriptor, error) {
	var sd storageDescriptor
	if len(b) < 36 {
		return sd, errors.New("storage descriptor: short reply")
	}
	le := binary.LittleEndian
	size := int(le.Uint32(b[4:]))
	if size > len(b) || size < 36 {
		size = len(b)
	}
	b = b[:size]
	str := func(off uint32) string {
		if off == 0 || int(off) >= len(b) {
			return ""
		}
		s := b[off:]
		if i := indexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return strings.TrimSpace(string(s))
	}
	sd.Removable = b[10] != 0
	sd.Vendor = str(le.Uint32(b[12:]))
	sd.Product = str(le.Uint32(b[16:]))
	sd.Serial = str(le.Uint32(b[24:]))
	sd.BusType = le.Uint32(b[28:])
	return sd, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func windowsTransport(bus uint32) Transport {
	switch bus {
	case busUSB:
		return TransportUSB
	case busSD, busMMC:
		return TransportMMC
	case busSATA, busATA:
		return TransportSATA
	case busNVMe:
		return TransportNVMe
	case busSCSI, busSAS:
		return TransportSCSI
	case busFileBackedVirtual:
		return TransportLoop
	case busVirtual:
		return TransportVirtual
	}
	return TransportOther
}

// maxDiskExtents caps the extents read from one volume (spanned volumes
// have a few).
const maxDiskExtents = 64

// parseDiskExtents decodes VOLUME_DISK_EXTENTS: a uint32 count, 4 bytes of
// padding, then 24-byte DISK_EXTENTs {DiskNumber uint32, pad, StartingOffset
// int64, ExtentLength int64}. It returns the disk numbers.
func parseDiskExtents(b []byte) ([]uint32, error) {
	if len(b) < 8 {
		return nil, errors.New("disk extents: short reply")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > maxDiskExtents || 8+24*n > len(b) {
		return nil, errors.New("disk extents: count exceeds the reply")
	}
	out := make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, binary.LittleEndian.Uint32(b[8+24*i:]))
	}
	return out, nil
}
