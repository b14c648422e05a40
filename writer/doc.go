// Package writer puts an image onto removable drives (or files) safely,
// fast and verified. It is the engine behind `isofsd write` and
// `isofsd devices`.
//
// The work is split in two steps so that a caller can show the user what is
// about to happen and ask for confirmation in between:
//
//   - Prepare opens the source (a file, a block device, stdin, or a gzip /
//     bzip2 / xz / zstd stream recognised by its magic bytes), inspects the
//     image with isofmt, looks every target up and runs the safety rules.
//     It writes nothing.
//   - (*Plan).Execute opens the targets exclusively, re-checks that each
//     one is still the device that was assessed, streams the source once
//     through a reader goroutine into aligned buffers that every target's
//     writer consumes, syncs, and reads each target back to compare it with
//     the checksums taken while writing.
//
// Safety rules (see Policy): a device must be USB, MMC or removable (Force
// or, for loop devices, AllowLoop lifts this one rule); it must not be
// read-only, smaller than the image, mounted (itself, a partition or a
// holder such as a device-mapper volume), used as swap, hold the running
// system, or hold the source image. Those other rules cannot be overridden.
//
// Verification keeps a CRC-32C per 4 KiB block of the image (the granularity
// btrfs uses for data checksums), so a mismatch is located to the block and,
// when the source can be re-read, to the byte. The table costs 1/1024 of the
// image size in memory.
//
// The package logs nothing on its own: messages go through the Logger and
// progress through the callback a caller passes in Options.
package writer
