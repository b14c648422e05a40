package isofmt

import "io/fs"

// POSIX file type bits as stored by Rock Ridge PX (and used by FUSE).
const (
	unixTypeMask = 0o170000
	unixSock     = 0o140000
	unixLink     = 0o120000
	unixReg      = 0o100000
	unixBlk      = 0o060000
	unixDir      = 0o040000
	unixChr      = 0o020000
	unixFifo     = 0o010000
)

// FileModeFromUnix converts a POSIX st_mode to an fs.FileMode.
func FileModeFromUnix(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	switch m & unixTypeMask {
	case unixDir:
		fm |= fs.ModeDir
	case unixLink:
		fm |= fs.ModeSymlink
	case unixBlk:
		fm |= fs.ModeDevice
	case unixChr:
		fm |= fs.ModeDevice | fs.ModeCharDevice
	case unixFifo:
		fm |= fs.ModeNamedPipe
	case unixSock:
		fm |= fs.ModeSocket
	}
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// UnixMode converts an fs.FileMode back to a POSIX st_mode.
func UnixMode(fm fs.FileMode) uint32 {
	m := uint32(fm.Perm())
	switch {
	case fm&fs.ModeDir != 0:
		m |= unixDir
	case fm&fs.ModeSymlink != 0:
		m |= unixLink
	case fm&fs.ModeCharDevice != 0:
		m |= unixChr
	case fm&fs.ModeDevice != 0:
		m |= unixBlk
	case fm&fs.ModeNamedPipe != 0:
		m |= unixFifo
	case fm&fs.ModeSocket != 0:
		m |= unixSock
	default:
		m |= unixReg
	}
	if fm&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fm&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fm&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}
