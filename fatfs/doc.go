// Package fatfs reads FAT12, FAT16 and FAT32 file systems and lays out new
// FAT32 file systems to be written in one sequential pass.
//
// The reader (Open) takes any io.ReaderAt — an image file, a partition of
// a disk through io.NewSectionReader, a block device — and presents the
// tree as an io/fs file system with long (VFAT) names. Below the fs.FS
// view it exposes what recovery tools need: every 32-byte directory
// entry including deleted ones (first byte 0xE5: name, size, first
// cluster, with the lost first character of the short name restored from
// the long-name checksum where the long name survived), a walk of every
// directory that reaches deleted directories too (Walk), the FAT itself
// (entries, cluster states, an allocation bitmap and its free runs) and
// cluster chains as runs. It reads untrusted bytes: every offset is
// checked against the image, chains are followed a bounded number of
// steps and a chain that comes back onto itself is an error (ErrLoop),
// directories are capped at the 65 536 entries FAT allows, directory
// cycles are reported, never followed, and a walk reads no cluster as a
// directory twice.
//
// The builder (Plan) computes a complete FAT32 layout up front from a tree
// of names, sizes and times: boot sector, FSInfo, both FATs, directories,
// and one contiguous cluster run per file in the order the caller gives.
// Its Regions then describe the file system as consecutive byte ranges —
// generated metadata or file contents to be copied — so that a writer can
// produce the whole volume as one stream at device speed, the FATs written
// once, without a mounted file system and its random writes.
//
// FAT records local times without a zone; this package reads and writes
// them as UTC.
package fatfs
