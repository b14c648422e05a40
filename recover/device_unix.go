//go:build unix

package recover

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckOutputDevice refuses an output directory that lives on the device
// being carved: writing recovered images there could overwrite the very
// free space they are being recovered from. For a block device source it
// follows the output filesystem's device down through partitions, stacked
// devices (sysfs slaves) and loop backing files, and refuses if it meets
// the source. A disk-image file as source is refused only when the output
// filesystem is mounted from that very file (through a loop device);
// writing next to an image file cannot change the image.
func CheckOutputDevice(source, outdir string) error {
	var src, out syscall.Stat_t
	if err := syscall.Stat(source, &src); err != nil {
		return &os.PathError{Op: "stat", Path: source, Err: err}
	}
	if err := syscall.Stat(outdir, &out); err != nil {
		return &os.PathError{Op: "stat", Path: outdir, Err: err}
	}
	isBlock := src.Mode&syscall.S_IFMT == syscall.S_IFBLK
	srcFile, _ := os.Stat(source)
	srcDev := uint64(src.Rdev)
	if !isBlock {
		srcDev = ^uint64(0) // matches no device; only a loop backing file can match
	}
	outDev := uint64(out.Dev)
	if srcDev == outDev {
		return fmt.Errorf("recover: output directory %s is on the source device %s", outdir, source)
	}
	// Walk from the output's device towards the disks it sits on: its
	// parent disk (when it is a partition) and, recursively, the slaves of
	// stacked devices. Meeting the source means the output is on it.
	seen := map[string]bool{}
	var onSource func(dev string, depth int) bool
	onSource = func(dev string, depth int) bool {
		if depth > 16 || seen[dev] {
			return false
		}
		seen[dev] = true
		if dev == devString(srcDev) {
			return true
		}
		sys, err := filepath.EvalSymlinks("/sys/dev/block/" + dev)
		if err != nil {
			return false
		}
		// A partition's parent directory is its disk.
		if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(sys), "dev")); err == nil && onSource(strings.TrimSpace(string(b)), depth+1) {
				return true
			}
		}
		slaves, _ := os.ReadDir(filepath.Join(sys, "slaves"))
		for _, s := range slaves {
			if b, err := os.ReadFile(filepath.Join(sys, "slaves", s.Name(), "dev")); err == nil && onSource(strings.TrimSpace(string(b)), depth+1) {
				return true
			}
		}
		// A loop device's backing file may itself be on the source.
		if bf, err := os.ReadFile(filepath.Join(sys, "loop", "backing_file")); err == nil {
			var st syscall.Stat_t
			name := strings.TrimSpace(string(bf))
			if fi, err := os.Stat(name); err == nil && srcFile != nil && os.SameFile(fi, srcFile) {
				return true
			}
			if syscall.Stat(name, &st) == nil && onSource(devString(uint64(st.Dev)), depth+1) {
				return true
			}
		}
		return false
	}
	if onSource(devString(outDev), 0) {
		return fmt.Errorf("recover: output directory %s is on a device that sits on the source %s", outdir, source)
	}
	return nil
}

// devString formats a Linux dev_t as sysfs names it, "major:minor".
func devString(d uint64) string {
	major := (d >> 8) & 0xfff
	major |= (d >> 32) &^ 0xfff
	minor := d & 0xff
	minor |= (d >> 12) &^ 0xff
	return fmt.Sprintf("%d:%d", major, minor)
}
