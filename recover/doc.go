// Package recover gets ISO 9660 / UDF images back from damage and deletion.
//
//   - Rescue copies failing media (a disc, a device, an image on a bad disk)
//     in GNU ddrescue's phases — copy with large reads skipping past errors,
//     trim, scrape, retry — recording progress in a ddrescue mapfile
//     (package ddmap), so a run can be resumed, or continued by ddrescue.
//     FilesTouching then says which files of the rescued image lie on the
//     sectors that stayed unread.
//   - Verify judges an image by every size its structures claim (ISO 9660
//     volume, UDF partition and anchors, MBR/GPT partitions, El Torito
//     images), the isomd5sum checksum implanted in it, checksum lists stored
//     in it and an external checksum, and names damaged files by path with
//     the bytes affected. Salvage extracts what lies in the readable,
//     verified part — whole files, and the good ranges of damaged ones —
//     through package extract's writer.
//   - Undelete gets deleted images back from the file systems on a disk
//     (FindFileSystems: NTFS, exFAT, ext2/3/4, FAT; the readers are the
//     packages ntfs, exfat and ext4j, reporting in fsmeta's terms, and the
//     project's FAT reader fatfs, on which fat.go lays its rule for zeroed
//     chains) by their
//     own metadata — names and real, fragmented extents — then scans for
//     the rest. Scan finds images by their volume descriptors on 512-byte
//     boundaries; Recover writes them out, verifies each, reports images
//     inside another's span as its file or as proof that it is fragmented,
//     and when one proves wrong asks the file system around it — old ext4
//     inode copies, or FAT's free clusters — where the missing pieces are.
//     Every image gets an honest verdict: exact only when proven.
//
// All parsing of images goes through isofmt. The package does not log:
// results, errors and progress callbacks go back to the caller (cmd/isofsd).
package recover
