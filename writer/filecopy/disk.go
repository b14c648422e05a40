package filecopy

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"unicode/utf16"

	"github.com/isofsd/isofsd/fatfs"
)

// Partition table schemes.
const (
	GPT = "gpt"
	MBR = "mbr"
)

// Geometry constants of the drive layout.
const (
	// PartitionStart is where the partition starts: 1 MiB, the alignment
	// every partitioning tool uses, good for flash erase blocks.
	PartitionStart = 1 << 20
	// tailReserve is kept free at the end for the GPT backup (33 sectors
	// of 512 bytes, 5 of 4096) and cleared before writing.
	tailReserve = 1 << 20
	// maxPartition caps the FAT32 partition: 2^32 sectors of 512 bytes
	// is what FAT32 (and MBR) can count.
	maxPartition = (1<<32 - 1) * 512 / (1 << 20) * (1 << 20)
	gptEntries   = 128
	gptEntrySize = 128
)

// basicDataGUID is the GPT type "Microsoft basic data" (EBD0A0A2-B9E5-
// 4433-87C0-68B6B72699C7), which Windows mounts and UEFI firmware scans
// for removable-media loaders; Rufus uses it for the same purpose.
var basicDataGUID = [16]byte{0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7}

// MinDiskSize is the smallest drive the plan fits on: the partition
// table area, the smallest FAT32 volume for the tree, the GPT backup.
func (p *Plan) MinDiskSize(sectorSize int) (int64, error) {
	fs, err := fatfs.MinSize(p.root, sectorSize, p.Label != "")
	if err != nil {
		return 0, err
	}
	return PartitionStart + fs + tailReserve, nil
}

// Disk is a plan placed on a drive of a given size.
type Disk struct {
	Plan *Plan
	// Size is the drive size the layout is for.
	Size       int64
	SectorSize int
	Scheme     string
	// PartStart and PartSize locate the FAT32 partition.
	PartStart, PartSize int64
	FS                  *fatfs.Layout
	// StreamSize is how much of the drive the shared stream covers, from
	// byte 0: the partition table area (zeros until Patches), the file
	// system up to its last used cluster. Free clusters are not written.
	StreamSize int64
	// MetadataEnd is where the first file's data starts: everything
	// before it is generated (tables, FATs, directories) and verified
	// block by block; files are verified through the file system.
	MetadataEnd int64
}

// Layout places the plan on a drive of size bytes with the given
// partition table scheme and logical sector size.
func (p *Plan) Layout(size int64, scheme string, sectorSize int) (*Disk, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if scheme == "" {
		scheme = GPT
	}
	if scheme != GPT && scheme != MBR {
		return nil, fmt.Errorf("filecopy: partition table %q: want gpt or mbr", scheme)
	}
	end := (size - tailReserve) / (1 << 20) * (1 << 20)
	partSize := min(end-PartitionStart, maxPartition/512*int64(sectorSize))
	if sectorSize == 512 {
		partSize = min(partSize, maxPartition)
	}
	if partSize <= 0 {
		return nil, fmt.Errorf("filecopy: a drive of %d bytes is too small", size)
	}
	d := &Disk{Plan: p, Size: size, SectorSize: sectorSize, Scheme: scheme, PartStart: PartitionStart, PartSize: partSize}
	l, err := fatfs.Plan(p.root, fatfs.Options{
		Size: partSize, SectorSize: sectorSize, Label: p.Label, HiddenSectors: uint32(PartitionStart / sectorSize),
		Time: p.root.Modified, Order: p.fatOrder(),
	})
	if err != nil {
		return nil, fmt.Errorf("filecopy: %w", err)
	}
	d.FS = l
	d.StreamSize = PartitionStart + l.End
	d.MetadataEnd = d.StreamSize
	for _, r := range l.Regions {
		if r.Kind == fatfs.RegionFile && r.Len > 0 {
			d.MetadataEnd = PartitionStart + r.Off
			break
		}
	}
	return d, nil
}

func (p *Plan) fatOrder() []*fatfs.Node {
	out := make([]*fatfs.Node, len(p.Files))
	for i, f := range p.Files {
		out[i] = f.fat
	}
	return out
}

// Patch is a piece written at Off after (or, for the prologue, before)
// the shared stream. Off and len(Data) are multiples of 4096 bytes or
// of the sector size where the drive's end is not 4 KiB aligned.
type Patch struct {
	Off  int64
	Data []byte
	What string
}

// headBytes is the stretch at the start of the drive that the
// partition table patch covers: 34 sectors (MBR, GPT header, 128
// entries) rounded up to 4 KiB.
func (d *Disk) headBytes() int64 {
	n := int64(2+gptEntries*gptEntrySize/d.SectorSize) * int64(d.SectorSize)
	return (n + 4095) / 4096 * 4096
}

// fsHeadBytes is the stretch of the volume's start that holds the boot
// sectors and FSInfo (sectors 0-7), rounded up to 4 KiB.
func (d *Disk) fsHeadBytes() int64 {
	return (8*int64(d.SectorSize) + 4095) / 4096 * 4096
}

// Held reports the ranges of the stream that are zeros until Patches
// writes them.
func (d *Disk) Held() [][2]int64 {
	return [][2]int64{{0, d.headBytes()}, {d.PartStart, d.PartStart + d.fsHeadBytes()}}
}

// Prologue is what to write on a drive of capacity bytes before the
// stream: zeros over the old partition tables and file system heads at
// both ends, so that a write interrupted at any point leaves nothing
// that looks like a complete drive (the old GPT backup in particular
// would otherwise bring back the old partition table).
func (d *Disk) Prologue(capacity int64, isDevice bool) []Patch {
	out := []Patch{{Off: 0, Data: make([]byte, d.PartStart+d.fsHeadBytes()), What: "clearing the first MiB"}}
	if isDevice && capacity > 2*tailReserve {
		// The last MiB, aligned to the sector size of the drive's end.
		n := int64(tailReserve)
		out = append(out, Patch{Off: capacity - n, Data: make([]byte, n), What: "clearing the last MiB"})
	}
	return out
}

// Patches are the per-drive pieces written after the stream, in this
// order: the volume's boot sectors and FSInfo, the GPT backup at the end
// of the drive, then the partition table at its start, which is what
// makes the drive recognisable. Each drive gets its own identifiers (GPT
// GUIDs or MBR signature, FAT serial), so that two drives written
// together are not taken for one. capacity is the drive's size: the GPT
// backup goes to its end (drives written together may differ in size;
// the partition is the same on all).
func (d *Disk) Patches(capacity int64) ([]Patch, error) {
	var id [16 + 16 + 4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	diskGUID, partGUID := guidV4(id[0:16]), guidV4(id[16:32])
	serial := binary.LittleEndian.Uint32(id[32:])
	bps := int64(d.SectorSize)

	fsHead := make([]byte, d.fsHeadBytes())
	boot := d.FS.BootSector()
	binary.LittleEndian.PutUint32(boot[67:], serial)
	copy(fsHead, boot)
	for _, r := range d.FS.Regions {
		if r.Kind == fatfs.RegionBytes && r.Off == 0 {
			copy(fsHead[bps:], r.Bytes[bps:min(int64(len(r.Bytes)), int64(len(fsHead)))])
			break
		}
	}
	copy(fsHead[6*bps:], boot) // the backup boot sector, same serial
	out := []Patch{{Off: d.PartStart, Data: fsHead, What: "FAT32 boot sectors"}}

	head := make([]byte, d.headBytes())
	if capacity < d.Size {
		return nil, fmt.Errorf("filecopy: a drive of %d bytes is smaller than the layout's %d", capacity, d.Size)
	}
	sectors := capacity / bps
	first, last := d.PartStart/bps, (d.PartStart+d.PartSize)/bps-1
	switch d.Scheme {
	case GPT:
		entries := make([]byte, gptEntries*gptEntrySize)
		e := entries[:gptEntrySize]
		copy(e[0:16], basicDataGUID[:])
		copy(e[16:32], partGUID[:])
		binary.LittleEndian.PutUint64(e[32:], uint64(first))
		binary.LittleEndian.PutUint64(e[40:], uint64(last))
		name := d.Plan.Label
		if name == "" {
			name = "ISOFSD"
		}
		for i, c := range utf16.Encode([]rune(name)) {
			if i < 36 {
				binary.LittleEndian.PutUint16(e[56+2*i:], c)
			}
		}
		entriesCRC := crc32.ChecksumIEEE(entries)
		entrySecs := int64(len(entries)) / bps
		hdr := func(my, alt, entriesAt int64) []byte {
			h := make([]byte, bps)
			copy(h, "EFI PART")
			binary.LittleEndian.PutUint32(h[8:], 0x00010000)
			binary.LittleEndian.PutUint32(h[12:], 92)
			binary.LittleEndian.PutUint64(h[24:], uint64(my))
			binary.LittleEndian.PutUint64(h[32:], uint64(alt))
			binary.LittleEndian.PutUint64(h[40:], uint64(2+entrySecs))
			binary.LittleEndian.PutUint64(h[48:], uint64(sectors-2-entrySecs))
			copy(h[56:72], diskGUID[:])
			binary.LittleEndian.PutUint64(h[72:], uint64(entriesAt))
			binary.LittleEndian.PutUint32(h[80:], gptEntries)
			binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
			binary.LittleEndian.PutUint32(h[88:], entriesCRC)
			binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
			return h
		}
		// Protective MBR: one partition of type 0xEE over the whole drive.
		pm := head[446:462]
		pm[1], pm[2], pm[3] = 0x00, 0x02, 0x00
		pm[4] = 0xEE
		pm[5], pm[6], pm[7] = 0xFF, 0xFF, 0xFF
		binary.LittleEndian.PutUint32(pm[8:], 1)
		binary.LittleEndian.PutUint32(pm[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
		head[510], head[511] = 0x55, 0xAA
		copy(head[bps:], hdr(1, sectors-1, 2))
		copy(head[2*bps:], entries)
		tail := make([]byte, (entrySecs+1)*bps)
		copy(tail, entries)
		copy(tail[entrySecs*bps:], hdr(sectors-1, 1, sectors-1-entrySecs))
		out = append(out, Patch{Off: (sectors - 1 - entrySecs) * bps, Data: tail, What: "GPT backup"})
	case MBR:
		binary.LittleEndian.PutUint32(head[440:], binary.LittleEndian.Uint32(id[0:4]))
		pe := head[446:462]
		pe[0] = 0x80 // active: some BIOS firmware looks for it on USB drives
		copy(pe[1:4], chs(first))
		pe[4] = 0x0C // FAT32 with LBA addressing
		copy(pe[5:8], chs(last))
		binary.LittleEndian.PutUint32(pe[8:], uint32(first))
		binary.LittleEndian.PutUint32(pe[12:], uint32(last-first+1))
		head[510], head[511] = 0x55, 0xAA
	}
	// Boot code of the MBR: ask the BIOS for the next device (int 18h);
	// legacy-BIOS boot of the drive is not offered.
	copy(head[0:], []byte{0xCD, 0x18, 0xF4, 0xEB, 0xFD})
	out = append(out, Patch{Off: 0, Data: head, What: "partition table"})
	return out, nil
}

// chs encodes an LBA as cylinder/head/sector for 255 heads and 63
// sectors per track, or the 1023/254/63 "use LBA" marker beyond.
func chs(lba int64) []byte {
	const heads, spt = 255, 63
	c := lba / (heads * spt)
	if c > 1023 {
		return []byte{0xFE, 0xFF, 0xFF}
	}
	h := (lba / spt) % heads
	s := lba%spt + 1
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// guidV4 makes a random (version 4) GUID in its on-disk byte order.
func guidV4(b []byte) [16]byte {
	var g [16]byte
	copy(g[:], b)
	g[7] = g[7]&0x0f | 0x40 // version, in the little-endian third field
	g[8] = g[8]&0x3f | 0x80 // variant
	return g
}
