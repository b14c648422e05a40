// Package diskio holds the low-level file and disk I/O every isofsd
// package shares, so that each rule exists once:
//
//   - OpenInput vets a path given as an image or source (a regular file or
//     a block device, never a FIFO, directory or character device) and
//     finds its size, without blocking on a FIFO;
//   - OpenDirect opens with O_DIRECT (F_NOCACHE on macOS) and falls back to
//     buffered I/O where the file system refuses it; AlignedBuffer returns
//     the memory such I/O needs;
//   - CreateAtomic and WriteFileAtomic replace a file so that a reader, or a
//     restart after a crash, sees either the old content or the new one.
package diskio
