// Package filecopy makes a bootable USB drive from an ISO image by copying
// its files, for images that do not boot when written raw: Windows
// installation media and other UEFI images without a hybrid partition
// table. Firmware boots such drives from a FAT32 partition that holds the
// loader at \EFI\BOOT\BOOT<arch>.EFI; Windows Setup then reads the rest.
//
// New walks the image's richest tree (UDF on Windows media) and plans the
// drive's content: every directory and file with its name and times, the
// install.wim that FAT32 cannot hold split into install.swm,
// install2.swm, … (package wim), loaders found only inside the El Torito
// EFI image added under EFI/BOOT, and anything else FAT32 cannot hold
// refused by name. Layout then places it on a disk of a given size: a
// GPT (or MBR) with one partition aligned to 1 MiB, and a FAT32 file
// system laid out in full by package fatfs, files contiguous.
//
// The drive is written as one sequential stream (Disk.Stream) shared by
// every target, followed by a few per-target patches written last
// (Disk.Patches): the partition table, the boot sectors and the GPT
// backup. Until those are written the drive holds no partition table and
// no file system a computer would recognise, so an interrupted write
// never leaves a drive that looks complete (Disk.Prologue clears the old
// ones first). Verify reads the written file system back with fatfs and
// compares every file with the image, by SHA-256.
//
// The package knows nothing about devices or targets: package writer
// opens, checks and writes them.
package filecopy
