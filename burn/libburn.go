package burn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Libburn drives libburn through one of its cdrecord-style front ends:
// `xorriso -as cdrecord` (package xorriso) or `cdrskin` (package cdrskin).
// Both are libburn, so they share the drive addressing (/dev/srN, or
// stdio:PATH for a pseudo-drive), the write options and the progress
// lines; they differ in how drives and media are inquired.
type Libburn struct {
	// Program is "xorriso" or "cdrskin"; Bin is its path.
	Program string
	Bin     string
	run     runner
}

// NewLibburn finds program ("xorriso" or "cdrskin") in PATH.
func NewLibburn(program string) (*Libburn, error) {
	if program != "xorriso" && program != "cdrskin" {
		return nil, fmt.Errorf("burn: unknown libburn front end %q (want xorriso or cdrskin)", program)
	}
	bin, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not installed (apt-get install %s)", ErrNoEngine, program, program)
	}
	return &Libburn{Program: program, Bin: bin, run: execRunner}, nil
}

// Name implements Engine.
func (e *Libburn) Name() string { return e.Program }

// Pseudo implements Engine: libburn's stdio: pseudo-drives.
func (e *Libburn) Pseudo() bool { return true }

// pseudoFD is the descriptor a pseudo-drive's target is passed as.
// isofsd opens the target itself (checked, without following links) and
// libburn reopens it as /dev/fd/3, so no path is resolved twice.
const pseudoFD = 3

// dev is the dev= address of d and the files to pass along.
func (e *Libburn) dev(d *Drive) (string, []*os.File) {
	if d.file != nil {
		return fmt.Sprintf("stdio:/dev/fd/%d", pseudoFD), []*os.File{d.file}
	}
	return d.Path, nil
}

func (e *Libburn) cmd(files []*os.File, args ...string) command {
	return command{name: e.Bin, args: args, files: files}
}

// emulated is the option cdrskin needs before it accepts a stdio: drive.
func (e *Libburn) emulated(d *Drive) []string {
	if e.Program == "cdrskin" && d.Pseudo {
		return []string{"--allow_emulated_drives"}
	}
	return nil
}

// fail builds the EngineError for a run that printed lines and ended with
// err.
func (e *Libburn) fail(op string, out []string, err error) *EngineError {
	ee := &EngineError{Engine: e.Program, Op: op}
	if err != nil {
		ee.Status = err.Error()
		ee.Interrupted = errors.Is(err, context.Canceled)
	}
	for _, l := range out {
		ee.note(l)
	}
	return ee
}

// note records what an output line tells about a failure.
func (ee *EngineError) note(l string) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "UNIX-SIGNAL:"); ok {
		if f := strings.Fields(rest); len(f) > 0 && len(f[0]) < 16 {
			ee.Signal = f[0]
		}
		return
	}
	m, ok := ParseMessage(l)
	if !ok || !m.IsError() {
		return
	}
	if strings.Contains(m.Text, "busy device") || strings.Contains(m.Text, "Device or resource busy") {
		ee.Busy = true
	}
	if len(ee.Messages) < maxKeptMessages {
		ee.Messages = append(ee.Messages, m)
	}
}

// Drives implements Engine: `xorriso -devices` or `cdrskin --devices`.
// Busy drives are left out by libburn (it cannot open them).
func (e *Libburn) Drives(ctx context.Context) ([]*Drive, error) {
	var c command
	if e.Program == "xorriso" {
		c = e.cmd(nil, "-devices")
	} else {
		c = e.cmd(nil, "--devices")
	}
	out, err := output(ctx, e.run, c)
	text := strings.Join(out, "\n")
	ds := ParseDevices(e.Program, text)
	// xorriso ends with status 32 and "No drives found" when there are
	// none; that is an empty list, not a failure.
	if err != nil && len(ds) == 0 && !strings.Contains(text, "No drives found") && !strings.Contains(text, "No usable drive") {
		return nil, e.fail("list drives", out, err)
	}
	return ds, nil
}

// Inspect implements Engine. xorriso: `-outdev D -toc -list_speeds
// -tell_media_space`; cdrskin: `-minfo` and `--tell_media_space`.
func (e *Libburn) Inspect(ctx context.Context, d *Drive) error {
	dev, files := e.dev(d)
	// libburn gives pseudo-drives a made-up identity ("YOYODYNE WARP
	// DRIVE"); they keep the one isofsd gave them.
	id := d
	if d.Pseudo {
		id = &Drive{}
	}
	if e.Program == "xorriso" {
		out, err := output(ctx, e.run, e.cmd(files, "-outdev", dev, "-toc", "-list_speeds", "-tell_media_space"))
		m := ParseXorrisoMedia(strings.Join(out, "\n"), id)
		if m == nil {
			return e.fail("inspect "+d.Path, out, err)
		}
		d.Media, d.Engine = m, e.Program
		return nil
	}
	args := append(e.emulated(d), "dev="+dev, "-minfo")
	out, err := output(ctx, e.run, e.cmd(files, args...))
	space := int64(-1)
	args = append(e.emulated(d), "dev="+dev, "--tell_media_space")
	if sout, serr := output(ctx, e.run, e.cmd(files, args...)); serr == nil {
		for _, l := range sout {
			if n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil {
				space = sectors(n)
			}
		}
	}
	m := ParseCdrskinMedia(strings.Join(out, "\n"), space, id)
	if m == nil {
		return e.fail("inspect "+d.Path, out, err)
	}
	if m.Present && len(m.WriteSpeeds) == 0 {
		m.WriteSpeeds = cdrskinMaxSpeed(out, m.Family())
	}
	d.Media, d.Engine = m, e.Program
	return nil
}

// cdrskinMaxSpeed reads "cdrskin: burn_drive_get_write_speed = 5540
// (4.0x)" from -minfo: cdrskin tells the fastest speed only.
func cdrskinMaxSpeed(out []string, family string) []Speed {
	for _, l := range out {
		_, v, ok := strings.Cut(l, "burn_drive_get_write_speed =")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if kbps, err := strconv.Atoi(f[0]); err == nil && kbps > 0 && kbps <= 1_000_000 {
			return []Speed{SpeedFromKBps(kbps, family)}
		}
	}
	return nil
}

// burnArgs builds the cdrecord-style command line both front ends take.
// No -multi: the disc is closed after the session, so it reads in every
// drive. The image goes last as an absolute path, never read as an option.
func (e *Libburn) burnArgs(job Job, dev string) []string {
	var a []string
	if e.Program == "xorriso" {
		a = append(a, "-as", "cdrecord")
	}
	a = append(a, "-v")
	a = append(a, e.emulated(job.Drive)...)
	a = append(a, "dev="+dev)
	if job.Speed > 0 {
		a = append(a, "speed="+strconv.Itoa(job.Speed))
	}
	if job.Dummy {
		a = append(a, "-dummy")
	}
	if job.Blank {
		a = append(a, "blank=as_needed")
	}
	if job.NoPad {
		a = append(a, "-nopad")
	} else {
		a = append(a, "padsize=300k")
	}
	return append(a, "-data", job.Image)
}

// Burn implements Engine. Success needs the front end's own success line
// ("Writing to ... completed successfully.", "cdrskin: burning done"):
// xorriso can end with status 0 after a FAILURE event.
func (e *Libburn) Burn(ctx context.Context, job Job, progress func(Progress)) error {
	dev, files := e.dev(job.Drive)
	ee := &EngineError{Engine: e.Program, Op: "burn"}
	done := false
	var out []string
	err := e.run(ctx, e.cmd(files, e.burnArgs(job, dev)...), func(l string) {
		if len(out) < maxOutputLines {
			out = append(out, l)
		}
		ee.note(l)
		switch {
		case strings.Contains(l, "completed successfully"), strings.Contains(l, "cdrskin: burning done"):
			done = true
		case strings.Contains(l, "Beginning to write data track"), strings.Contains(l, "Starting to write CD/DVD"):
			ee.Started = true
		}
		if p, ok := ParseLibburnProgress(l); ok {
			if p.Phase == PhaseWrite {
				ee.Started = true
				ee.Written = min(max(ee.Written, p.Done), job.Size)
			}
			if progress != nil {
				progress(p)
			}
		}
	})
	if err == nil && done && len(ee.Messages) == 0 {
		return nil
	}
	if err != nil {
		ee.Status = err.Error()
		ee.Interrupted = errors.Is(err, context.Canceled)
	} else if len(ee.Messages) == 0 {
		ee.Status = "it did not report success"
	}
	return ee
}

// Eject implements Engine.
func (e *Libburn) Eject(ctx context.Context, d *Drive) error {
	dev, files := e.dev(d)
	var c command
	if e.Program == "xorriso" {
		c = e.cmd(files, "-outdev", dev, "-eject", "out")
	} else {
		c = e.cmd(files, "dev="+dev, "-eject")
	}
	out, err := output(ctx, e.run, c)
	ee := e.fail("eject", out, err)
	if err == nil && len(ee.Messages) == 0 {
		return nil
	}
	return ee
}
