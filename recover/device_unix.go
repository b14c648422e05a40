//go:build unix

package recover

import (
	"fmt"
	"os"
	"syscall"

	"github.com/isofsd/isofsd/writer"
)

// CheckOutputDevice refuses an output directory that lives on the device
// being carved: writing recovered images there could overwrite the very
// free space they are being recovered from. For a block device source it
// follows the output file system's device down through partitions,
// stacked devices and loop backing files (writer.DevicesBelow, the walk
// write's source check takes too) and refuses if it meets the source. A
// disk-image file as source is refused only when the output file system
// is stored in that very file (through a loop device); writing next to an
// image file cannot change the image.
func CheckOutputDevice(source, outdir string) error {
	src, err := os.Stat(source)
	if err != nil {
		return err
	}
	below, err := writer.DevicesBelow(outdir, nil)
	if err != nil {
		return err
	}
	isBlock := src.Mode()&os.ModeDevice != 0 && src.Mode()&os.ModeCharDevice == 0
	var srcDev writer.DevNum
	if st, ok := src.Sys().(*syscall.Stat_t); ok && isBlock {
		srcDev = writer.DevNumOf(uint64(st.Rdev))
	}
	for i, d := range below {
		if isBlock && d.Dev == srcDev && i == 0 {
			return fmt.Errorf("recover: output directory %s is on the source device %s", outdir, source)
		}
		onSource := isBlock && d.Dev == srcDev
		if d.BackingFile != "" {
			if fi, err := os.Stat(d.BackingFile); err == nil && os.SameFile(fi, src) {
				onSource = true
			}
		}
		if onSource {
			return fmt.Errorf("recover: output directory %s is on a device that sits on the source %s", outdir, source)
		}
	}
	return nil
}
