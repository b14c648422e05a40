//go:build !linux

package recover

// oDirect is 0 where O_DIRECT does not exist; OpenSource then reads buffered.
const oDirect = 0
