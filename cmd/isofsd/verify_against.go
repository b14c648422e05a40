package main

// `isofsd verify DRIVE --against IMAGE`: is this USB drive (or an image
// of one) what IMAGE makes? A raw drive is compared over the image's
// length (package recover); a file-copy drive file by file through its
// FAT32 tree (package writer/filecopy).

import (
	"errors"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/recover"
	"github.com/isofsd/isofsd/writer/filecopy"
)

// againstReport is the JSON form of verify --against.
type againstReport struct {
	Drive   string                   `json:"drive"`
	Image   string                   `json:"image"`
	Method  string                   `json:"method"` // "raw" or "files"
	Verdict string                   `json:"verdict"`
	Raw     *recover.DriveComparison `json:"raw,omitempty"`
	Files   *filecopy.VerifyResult   `json:"files,omitempty"`
	Error   string                   `json:"error,omitempty"`
}

func runVerifyAgainst(cmd *cobra.Command, a *app, drivePath, imagePath string, jsonOut bool) error {
	img, err := isofmt.OpenFile(imagePath, nil)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer img.Close()
	drive, err := recover.OpenSource(drivePath)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer drive.Close()
	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()
	var bar *progressbar.ProgressBar
	progress := func(done, total int64) {
		if bar == nil && total > 64<<20 {
			bar = a.recoverBar(total, "verify")
		}
		if bar != nil {
			bar.Set64(done)
		}
	}
	rep := &againstReport{Drive: drivePath, Image: imagePath, Verdict: recover.VerdictOK}
	out := cmd.OutOrStdout()

	// A drive written raw holds the image's volume; one written in
	// file-copy mode holds no ISO 9660/UDF at all.
	if probe, perr := isofmt.Open(drive, drive.Size, nil); perr == nil {
		probe.Close()
		rep.Method = "raw"
		rep.Raw, err = recover.CompareDrive(ctx, drive, drive.Size, img, progress)
		if err == nil && len(rep.Raw.Bad) > 0 {
			rep.Verdict = recover.VerdictDamaged
		}
	} else if _, _, ferr := filecopy.FindFAT(drive, drive.Size); ferr == nil {
		rep.Method = "files"
		rich, _ := img.WithTree("")
		var plan *filecopy.Plan
		if plan, err = filecopy.New(rich, filecopy.Options{}); err == nil {
			rep.Files, err = plan.Verify(ctx, drive, drive.Size, filecopy.VerifyOptions{Progress: progress})
		}
		if errors.Is(err, filecopy.ErrMismatch) {
			rep.Verdict, err = recover.VerdictDamaged, nil
		}
	} else {
		rep.Verdict = recover.VerdictDamaged
		rep.Error = fmt.Sprintf("%s holds neither an ISO 9660/UDF volume (a raw copy) nor a FAT file system (file-copy mode): it was not written from an image, or the write did not finish", drivePath)
	}
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return withCode(exitUsage, err)
	}
	if jsonOut {
		if err := writeJSON(out, rep); err != nil {
			return err
		}
	} else {
		printAgainst(out, rep)
	}
	if rep.Verdict != recover.VerdictOK {
		return withCode(exitDamaged, fmt.Errorf("%s differs from %s", drivePath, imagePath))
	}
	return nil
}

func printAgainst(w io.Writer, r *againstReport) {
	fmt.Fprintf(w, "drive:    %s\nimage:    %s\n", r.Drive, r.Image)
	if r.Error != "" {
		fmt.Fprintf(w, "problem:  %s\n", r.Error)
	}
	if c := r.Raw; c != nil {
		fmt.Fprintf(w, "method:   raw copy: the first %d bytes of the %d-byte drive compared with the image\n", c.Compared, c.DriveSize)
		if c.Identical {
			fmt.Fprintln(w, "result:   identical to the image")
		}
		for _, h := range c.Harmless {
			fmt.Fprintf(w, "harmless: %s\n", h)
		}
		for _, b := range c.Bad {
			fmt.Fprintf(w, "differs:  bytes %d-%d\n", b.Offset, b.End()-1)
		}
		if c.Files != nil {
			printFileDamage(w, c.Files)
		}
		for _, b := range c.Beyond {
			fmt.Fprintf(w, "beyond:   %s\n", b)
		}
	}
	if f := r.Files; f != nil {
		fmt.Fprintf(w, "method:   file copy: the FAT volume at byte %d (%d bytes), label %q, compared file by file (SHA-256)\n", f.PartStart, f.PartSize, f.Label)
		fmt.Fprintf(w, "result:   %d files and %d directories as in the image (%d bytes)\n", f.Files, f.Dirs, f.Bytes)
		for _, s := range f.Splits {
			fmt.Fprintf(w, "split:    %s\n", s)
		}
		for _, p := range f.Problems {
			fmt.Fprintf(w, "differs:  %s\n", quoteControl(p))
		}
		for _, e := range f.Extra {
			fmt.Fprintf(w, "extra:    %q is on the drive but not in the image (added by the tool or the user; not checked)\n", e)
		}
	}
	fmt.Fprintf(w, "verdict:  %s\n", r.Verdict)
}
