package fatfs

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Geometry is what the boot sector says about the volume's layout.
type Geometry struct {
	// Type is 12, 16 or 32.
	Type              int    `json:"type"`
	OEMName           string `json:"oem_name"`
	BytesPerSector    int    `json:"bytes_per_sector"`
	SectorsPerCluster int    `json:"sectors_per_cluster"`
	ClusterSize       int64  `json:"cluster_size"`
	ReservedSectors   int64  `json:"reserved_sectors"`
	NumFATs           int    `json:"num_fats"`
	// FATSectors is the size of one FAT.
	FATSectors   int64  `json:"fat_sectors"`
	RootEntries  int    `json:"root_entries"` // FAT12/16 fixed root directory
	TotalSectors int64  `json:"total_sectors"`
	Media        uint8  `json:"media"`
	HiddenSecs   uint32 `json:"hidden_sectors"`
	// RootCluster is the first cluster of the FAT32 root directory.
	RootCluster  uint32 `json:"root_cluster,omitempty"`
	FSInfoSector int    `json:"fsinfo_sector,omitempty"`
	BackupBoot   int    `json:"backup_boot_sector,omitempty"`
	// ActiveFAT is the FAT used when mirroring is off (FAT32 ext flags).
	ActiveFAT int    `json:"active_fat"`
	Serial    uint32 `json:"serial"`
	BPBLabel  string `json:"bpb_label"`
	FSType    string `json:"fs_type"`

	// Byte offsets from the start of the volume.
	FATOffset     int64 `json:"fat_offset"`
	RootDirOffset int64 `json:"root_dir_offset,omitempty"` // FAT12/16
	DataOffset    int64 `json:"data_offset"`
	// Clusters is the number of data clusters: valid cluster numbers are
	// 2 to Clusters+1.
	Clusters uint32 `json:"clusters"`
}

// Size is the volume size the boot sector claims.
func (g *Geometry) Size() int64 { return g.TotalSectors * int64(g.BytesPerSector) }

// ClusterOffset is the byte offset of cluster c in the volume.
func (g *Geometry) ClusterOffset(c uint32) int64 {
	return g.DataOffset + int64(c-2)*g.ClusterSize
}

// validCluster reports whether c names a data cluster.
func (g *Geometry) validCluster(c uint32) bool { return c >= 2 && c-2 < g.Clusters }

// The largest cluster counts each FAT width can address.
const (
	maxClusters12 = 4084
	maxClusters16 = 65524
	maxClusters32 = 0x0FFFFFF5
)

// ParseBootSector reads a FAT boot sector (at least 512 bytes). size is
// the byte size of what holds the volume; a volume larger than that is
// truncated, which is reported as an error only for the structures that
// lie beyond the end (the FATs and the root directory must be inside).
func ParseBootSector(b []byte, size int64) (*Geometry, error) {
	if len(b) < 512 {
		return nil, errorf("boot sector", 0, ErrNotFAT, "%d bytes", len(b))
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, errorf("boot sector", 510, ErrNotFAT, "no 55 AA signature")
	}
	if b[0] != 0xEB && b[0] != 0xE9 {
		return nil, errorf("boot sector", 0, ErrNotFAT, "no x86 jump instruction (%#02x)", b[0])
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	g := &Geometry{
		OEMName:           strings.TrimRight(string(b[3:11]), " \x00"),
		BytesPerSector:    int(le16(11)),
		SectorsPerCluster: int(b[13]),
		ReservedSectors:   le16(14),
		NumFATs:           int(b[16]),
		RootEntries:       int(le16(17)),
		TotalSectors:      le16(19),
		Media:             b[21],
		FATSectors:        le16(22),
		HiddenSecs:        uint32(le32(28)),
	}
	if g.TotalSectors == 0 {
		g.TotalSectors = le32(32)
	}
	bps := g.BytesPerSector
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return nil, errorf("boot sector", 11, ErrNotFAT, "%d bytes per sector", bps)
	case g.SectorsPerCluster == 0 || g.SectorsPerCluster&(g.SectorsPerCluster-1) != 0:
		return nil, errorf("boot sector", 13, ErrNotFAT, "%d sectors per cluster", g.SectorsPerCluster)
	case g.ReservedSectors == 0:
		return nil, errorf("boot sector", 14, ErrNotFAT, "no reserved sectors")
	case g.NumFATs == 0 || g.NumFATs > 4:
		return nil, errorf("boot sector", 16, ErrNotFAT, "%d FATs", g.NumFATs)
	case g.TotalSectors == 0:
		return nil, errorf("boot sector", 19, ErrNotFAT, "no sector count")
	}
	g.ClusterSize = int64(bps) * int64(g.SectorsPerCluster)
	if g.ClusterSize > 256<<10 {
		return nil, errorf("boot sector", 13, ErrNotFAT, "cluster size %d", g.ClusterSize)
	}
	// FAT32 is told by its BPB (a zero 16-bit FAT size), as Linux does,
	// so that small FAT32 volumes (mkfs.fat makes them on request) read.
	ext := 36
	if g.FATSectors == 0 {
		g.Type = 32
		g.FATSectors = le32(36)
		flags := binary.LittleEndian.Uint16(b[40:])
		if flags&0x80 != 0 {
			g.ActiveFAT = int(flags & 0xf)
		}
		if v := binary.LittleEndian.Uint16(b[42:]); v != 0 {
			return nil, errorf("boot sector", 42, ErrNotFAT, "FAT32 version %#x", v)
		}
		g.RootCluster = uint32(le32(44))
		g.FSInfoSector = int(le16(48))
		g.BackupBoot = int(le16(50))
		ext = 64
		if g.RootEntries != 0 {
			return nil, errorf("boot sector", 17, ErrCorrupt, "FAT32 with %d fixed root entries", g.RootEntries)
		}
	}
	if g.FATSectors == 0 {
		return nil, errorf("boot sector", 36, ErrNotFAT, "no FAT size")
	}
	if g.ActiveFAT >= g.NumFATs {
		return nil, errorf("boot sector", 40, ErrCorrupt, "active FAT %d of %d", g.ActiveFAT, g.NumFATs)
	}
	if b[ext+2] == 0x29 { // extended boot signature: serial, label, type
		g.Serial = binary.LittleEndian.Uint32(b[ext+3:])
		g.BPBLabel = strings.TrimRight(string(b[ext+7:ext+18]), " \x00")
		g.FSType = strings.TrimRight(string(b[ext+18:ext+26]), " \x00")
	}
	rootSecs := (int64(g.RootEntries)*32 + int64(bps) - 1) / int64(bps)
	fatStart := g.ReservedSectors
	rootStart := fatStart + int64(g.NumFATs)*g.FATSectors
	dataStart := rootStart + rootSecs
	if dataStart >= g.TotalSectors {
		return nil, errorf("boot sector", 19, ErrCorrupt, "%d sectors, but the data area starts at sector %d", g.TotalSectors, dataStart)
	}
	clusters := (g.TotalSectors - dataStart) / int64(g.SectorsPerCluster)
	if g.Type == 0 {
		// FAT12 and FAT16 are told apart by the cluster count alone.
		if clusters <= maxClusters12 {
			g.Type = 12
		} else {
			g.Type = 16
		}
		if clusters > maxClusters16 {
			return nil, errorf("boot sector", 19, ErrCorrupt, "%d clusters, too many for FAT16 and no FAT32 parameters", clusters)
		}
		if g.RootEntries == 0 {
			return nil, errorf("boot sector", 17, ErrCorrupt, "FAT%d without root directory entries", g.Type)
		}
	}
	if clusters > maxClusters32 {
		clusters = maxClusters32
	}
	// The FAT must describe every cluster.
	bits := int64(g.Type)
	if g.FATSectors*int64(bps)*8 < (clusters+2)*bits {
		return nil, errorf("boot sector", 22, ErrCorrupt, "a FAT of %d sectors cannot describe %d clusters", g.FATSectors, clusters)
	}
	g.Clusters = uint32(clusters)
	g.FATOffset = fatStart * int64(bps)
	g.RootDirOffset = rootStart * int64(bps)
	g.DataOffset = dataStart * int64(bps)
	if g.Type == 32 {
		g.RootDirOffset = 0
		if !g.validCluster(g.RootCluster) {
			return nil, errorf("boot sector", 44, ErrCorrupt, "root directory cluster %d outside 2..%d", g.RootCluster, g.Clusters+1)
		}
	}
	if end := g.DataOffset; end > size {
		return nil, errorf("boot sector", 0, ErrCorrupt, "the FATs and root directory end at byte %d, beyond the %d-byte volume", end, size)
	}
	return g, nil
}

// label11 pads or cuts a label to the 11 bytes of a directory entry.
func label11(s string) [11]byte {
	var out [11]byte
	copy(out[:], bytes.Repeat([]byte{' '}, 11))
	copy(out[:], s)
	return out
}
