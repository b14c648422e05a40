// Package usbboot tells how an ISO image can boot from a USB drive and
// what it offers once booted: whether a raw copy boots (an MBR or GPT in
// the system area), whether it needs file-copy mode (UEFI boot files on a
// FAT32 partition: Windows installers and other non-hybrid UEFI images),
// or whether it does not boot from USB at all; the UEFI architectures of
// its boot loaders, read from their PE headers (in the tree and inside
// the El Torito EFI image); and, for Windows media, the editions the
// install.wim or install.esd describes in its XML data.
//
// It reads untrusted images through isofmt, fatfs and wim, and reads
// only headers: a PE header, a WIM header and XML, FAT directories.
package usbboot
