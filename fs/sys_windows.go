//go:build windows

package fs

// mkdev encodes a device number the Linux way (what Rock Ridge records);
// WinFsp shows no device files anyway.
func mkdev(major, minor uint32) uint32 { return (major&0xfff)<<8 | minor&0xff | (minor&^0xff)<<12 }
