//go:build unix && !linux

package diskio

import "golang.org/x/sys/unix"

// reopenFlag keeps the second open by path from blocking on a FIFO
// swapped in since OpenInput; the identity check then refuses it. Reads
// of regular files and disks ignore O_NONBLOCK.
const reopenFlag = unix.O_NONBLOCK
