package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/usbboot"
	"github.com/isofsd/isofsd/writer/filecopy"
)

// Mode is how an image is put on the targets.
type Mode string

// Modes.
const (
	// ModeAuto picks raw or files from what the image is.
	ModeAuto Mode = "auto"
	// ModeRaw copies the image byte for byte.
	ModeRaw Mode = "raw"
	// ModeFiles partitions the target, formats it FAT32 and copies the
	// image's files (package filecopy).
	ModeFiles Mode = "files"
)

// ParseMode reads a --mode value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeRaw, ModeFiles:
		return Mode(s), nil
	}
	return "", fmt.Errorf("mode %q: want auto, raw or files", s)
}

// FileCopyOptions configure file-copy mode.
type FileCopyOptions struct {
	// PartitionTable is "gpt" (default) or "mbr".
	PartitionTable string
	// WIMPartSize and SplitAbove are passed to filecopy (tests use small
	// values to split small WIMs).
	WIMPartSize, SplitAbove int64
}

// decideMode chooses the mode and says why; warn is set when the choice
// deserves a warning (a raw copy that will not boot), and refuse when
// the write should not happen as asked.
func decideMode(in *Inspection, src *Source, want Mode) (mode Mode, reason, warn, refuse string) {
	usb := in.USB
	switch want {
	case ModeRaw:
		if usb != nil && usb.Verdict == usbboot.NeedsFileCopy {
			warn = "a raw copy of this image will not boot from a USB drive: " + usb.Reason + " (--mode files would make it boot)"
		}
		return ModeRaw, "raw copy, as asked (--mode raw)", warn, ""
	case ModeFiles:
		switch {
		case !in.ISO:
			return ModeFiles, "", "", "file-copy mode needs an ISO 9660/UDF image: " + in.NotISO
		case !src.Seekable():
			return ModeFiles, "", "", "file-copy mode reads the image's files at random, which a stream (stdin, a compressed file) does not allow: decompress it to a file first"
		case usb != nil && usb.Verdict == usbboot.NotBootable:
			warn = "the drive will hold the image's files but will not boot: " + usb.Reason
		}
		return ModeFiles, "file copy to a FAT32 partition, as asked (--mode files)", warn, ""
	}
	switch {
	case !in.ISO:
		return ModeRaw, "raw copy: not an ISO 9660/UDF image, so it is written as it is", "", ""
	case usb == nil:
		return ModeRaw, "raw copy", "", ""
	case usb.Verdict == usbboot.RawCopyBoots:
		return ModeRaw, "raw copy: " + usb.Reason, "", ""
	case usb.Verdict == usbboot.NeedsFileCopy && !src.Seekable():
		return ModeFiles, "", "", "this image " + string(usb.Verdict) + " (" + usb.Reason + "), which reads its files at random: a stream (stdin, a compressed file) does not allow it; decompress it to a file first, or pass --mode raw to write it anyway (it will not boot)"
	case usb.Verdict == usbboot.NeedsFileCopy:
		return ModeFiles, "file copy to a FAT32 partition: " + usb.Reason, "", ""
	}
	return ModeRaw, "raw copy: the image does not boot from USB either way (" + usb.Reason + ")", "", ""
}

// prepareFileCopy plans the drive's content from the image. It runs
// before targets are assessed so that the size rule uses the smallest
// drive the content fits.
func (p *Plan) prepareFileCopy() error {
	img, err := isofmt.Open(p.Source.ra, p.Source.Size, nil)
	if err != nil {
		return err
	}
	fc, err := filecopy.New(img, filecopy.Options{PartSize: p.opts.FileCopy.WIMPartSize, SplitAbove: p.opts.FileCopy.SplitAbove})
	if err != nil {
		return err
	}
	p.FileCopy = fc
	p.MinSize, err = fc.MinDiskSize(512)
	return err
}

// layoutFileCopy places the planned content on the targets: a drive the
// size of the smallest device target (every target gets the same file
// system, written by one stream), or, with files only, the smallest size
// that holds it.
func (p *Plan) layoutFileCopy() error {
	size, lbs := int64(-1), 0
	for _, t := range p.Targets {
		if t.Device == nil {
			continue
		}
		if size < 0 || t.Device.Size < size {
			size = t.Device.Size
		}
		b := max(t.Device.LogicalBlockSize, 512)
		if lbs != 0 && b != lbs {
			return fmt.Errorf("the targets have different sector sizes (%d and %d bytes): write them one at a time", lbs, b)
		}
		lbs = b
	}
	if lbs == 0 {
		lbs = 512
	}
	if size < 0 || size < p.MinSize {
		size = p.MinSize
		if lbs != 512 {
			if size, _ = p.FileCopy.MinDiskSize(lbs); size < 0 {
				size = p.MinSize
			}
		}
	}
	d, err := p.FileCopy.Layout(size, p.opts.FileCopy.PartitionTable, lbs)
	if err != nil {
		return err
	}
	p.Disk = d
	// The engine streams the drive instead of the image.
	p.Source.stream = d.Stream()
	p.Source.Size = d.StreamSize
	p.Source.ra = nil
	return nil
}

// capacity is the size of a target's drive: the device's, or the disk
// size for a file.
func (p *Plan) capacity(j *job) int64 {
	if j.cap >= 0 {
		return j.cap
	}
	return p.Disk.Size
}

// prologue clears the old partition tables and file system heads of a
// target before the stream starts (filecopy.Disk.Prologue).
func (p *Plan) prologue(j *job) error {
	for _, pt := range p.Disk.Prologue(p.capacity(j), j.cap >= 0) {
		if err := writeAtAligned(j.s, pt.Data, pt.Off); err != nil {
			return fmt.Errorf("%s at byte %d: %w", pt.What, pt.Off, err)
		}
	}
	return nil
}

// commit writes a target's patches — boot sectors, GPT backup, and last
// the partition table — and syncs: only now does the drive look like one.
func (p *Plan) commit(j *job) error {
	pts, err := p.Disk.Patches(p.capacity(j))
	if err != nil {
		return err
	}
	for _, pt := range pts {
		if err := writeAtAligned(j.s, pt.Data, pt.Off); err != nil {
			return fmt.Errorf("writing the %s at byte %d: %w", pt.What, pt.Off, err)
		}
	}
	j.patches = pts
	if err := j.s.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// heldBlock returns what a verify block at off should hold when a patch
// covers it (the stream had zeros there), or nil.
func (j *job) heldBlock(off int64, n int) []byte {
	for _, pt := range j.patches {
		if off >= pt.Off && off+int64(n) <= pt.Off+int64(len(pt.Data)) {
			return pt.Data[off-pt.Off : off-pt.Off+int64(n)]
		}
	}
	return nil
}

// verifyFileCopy checks what the block verify does not cover: the
// patches beyond the stream (the GPT backup), then every file through
// the file system, against the image by SHA-256.
func (p *Plan) verifyFileCopy(ctx context.Context, j *job) error {
	r := newDirectReaderAt(j.s, p.opts.BlockSize)
	for _, pt := range j.patches {
		if pt.Off < p.Disk.StreamSize {
			continue
		}
		got := make([]byte, len(pt.Data))
		if _, err := r.ReadAt(got, pt.Off); err != nil {
			return fmt.Errorf("reading back the %s at byte %d: %w", pt.What, pt.Off, err)
		}
		if !bytes.Equal(got, pt.Data) {
			return fmt.Errorf("%w: the %s at byte %d differs from what was written", ErrVerify, pt.What, pt.Off)
		}
	}
	last := time.Now()
	res, err := p.FileCopy.Verify(ctx, r, p.capacity(j), filecopy.VerifyOptions{
		PartStart: p.Disk.PartStart, PartSize: p.Disk.PartSize, Own: true,
		Progress: func(done, total int64) {
			if time.Since(last) > 100*time.Millisecond || done == total {
				last = time.Now()
				p.progress(Progress{Target: j.t.Path, Phase: PhaseVerifyFiles, Done: done, Total: total})
			}
		},
	})
	if err != nil {
		if errors.Is(err, filecopy.ErrMismatch) {
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
		return err
	}
	j.res.FilesVerified = res.Files
	return nil
}

// writeAtAligned writes b at off through a sink that may need aligned
// offsets, lengths and memory (O_DIRECT): unaligned edges are read,
// merged and written back whole.
func writeAtAligned(s sink, b []byte, off int64) error {
	lbs := int64(1)
	if s.Direct() {
		lbs = int64(s.BlockSize())
	}
	start := off / lbs * lbs
	end := (off + int64(len(b)) + lbs - 1) / lbs * lbs
	buf := diskio.AlignedBuffer(int(end - start))
	if start != off || end != off+int64(len(b)) {
		// Read what surrounds the patch; beyond a file's end reads short.
		if n, err := s.ReadAt(buf, start); err != nil && n < len(buf) {
			clear(buf[n:])
		}
	}
	copy(buf[off-start:], b)
	_, err := s.WriteAt(buf, start)
	return err
}
