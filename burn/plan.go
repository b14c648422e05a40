package burn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// padBytes is the padding libburn appends to a track by default.
const padBytes = 300 << 10

// Options configure Prepare and Execute.
type Options struct {
	// Image is the image file to burn.
	Image string
	// Drive is the drive to burn to (/dev/sr0, stdio:/path, a drutil
	// drive number, an IMAPI2 drive letter); "" picks the only drive that
	// holds a disc the image can be written to.
	Drive string
	// Speed is the write speed as a multiple of the medium's 1x; 0 lets
	// the drive choose.
	Speed int
	// Dummy simulates the burn (nothing is written, nothing verified).
	Dummy bool
	// Blank erases rewritable media that hold data before writing.
	Blank bool
	// NoVerify skips reading the disc back.
	NoVerify bool
	// VerifyOnly reads back a disc burned earlier and compares it with
	// the image; nothing is written.
	VerifyOnly bool
	// Eject opens the tray once everything is done.
	Eject bool
	// Engine does the drive work; required.
	Engine Engine
	// Progress, if set, receives progress updates.
	Progress func(Progress)
}

// Plan is a checked burn, ready to Execute.
type Plan struct {
	opts Options
	// Image is the image's absolute path; Size its length.
	Image string
	Size  int64
	// Drive is the drive the image goes to, with its disc's state.
	Drive *Drive
	// Problems are the reasons the burn is refused; empty when it may go.
	Problems []Problem
	// NoPad is set when the image fits the disc only without libburn's
	// track padding.
	NoPad bool

	created bool // the pseudo-drive's file was created by Prepare
	started bool // the engine began writing
}

// ListDrives finds the optical drives — those the system knows (Linux:
// sysfs and /proc/sys/dev/cdrom/info) and those the engine lists — and
// reads the state of each one's disc. e may be nil when no engine is
// installed: the drives are then listed without their discs.
func ListDrives(ctx context.Context, e Engine) ([]*Drive, error) {
	sys, serr := systemDrives()
	var eng []*Drive
	var eerr error
	if e != nil {
		eng, eerr = e.Drives(ctx)
	}
	if serr != nil && (e == nil || eerr != nil) {
		if eerr != nil {
			return nil, eerr
		}
		return nil, serr
	}
	byPath := map[string]*Drive{}
	var out []*Drive
	for _, d := range append(sys, eng...) {
		if o, ok := byPath[d.Path]; ok {
			if o.Vendor == "" && o.Model == "" {
				o.Vendor, o.Model = d.Vendor, d.Model
			}
			continue
		}
		byPath[d.Path] = d
		out = append(out, d)
	}
	for _, d := range out {
		inspectDrive(ctx, e, d)
	}
	return out, eerr
}

// InspectDrive reads the state of one drive named by path (as for
// Options.Drive, stdio: included).
func InspectDrive(ctx context.Context, e Engine, path string) (*Drive, error) {
	if rest, ok := strings.CutPrefix(path, "stdio:"); ok {
		if e == nil || !e.Pseudo() {
			return nil, fmt.Errorf("%w: stdio: pseudo-drives need libburn (xorriso or cdrskin)", ErrUnsupported)
		}
		d, probs, _, err := openPseudo(rest, "", false, false)
		if err != nil {
			return nil, err
		}
		defer d.closeFile()
		if len(probs) > 0 {
			d.MediaErr = joinProblems(probs)
			return d, nil
		}
		if d.Busy == "" {
			if err := e.Inspect(ctx, d); err != nil {
				d.MediaErr = err.Error()
			}
		}
		return d, nil
	}
	if err := checkDrivePath(path); err != nil {
		return nil, err
	}
	d := &Drive{Path: path, Device: path}
	inspectDrive(ctx, e, d)
	return d, nil
}

// inspectDrive fills in whether d is busy and what disc it holds.
func inspectDrive(ctx context.Context, e Engine, d *Drive) {
	if d.Busy == "" && !d.Pseudo {
		d.Busy = driveBusy(d.Path)
	}
	switch {
	case e == nil:
		d.MediaErr = "no burn engine installed"
	case d.Busy != "":
		d.MediaErr = "in use"
	default:
		if err := e.Inspect(ctx, d); err != nil {
			var ee *EngineError
			if errors.As(err, &ee) && ee.Busy {
				d.Busy = "the burn engine reports it busy"
			}
			d.MediaErr = err.Error()
		}
	}
}

func (d *Drive) closeFile() {
	if d != nil && d.file != nil {
		d.file.Close()
		d.file = nil
	}
}

// Prepare checks everything a burn needs without writing anything: the
// image, the drive (found or named), the state of its disc, and the safety
// rules (Assess). Problems lists what refuses the burn; Err turns them
// into an error.
func Prepare(ctx context.Context, o Options) (*Plan, error) {
	if o.Engine == nil {
		return nil, ErrNoEngine
	}
	abs, err := filepath.Abs(o.Image)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrRefused, abs)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrRefused, abs)
	}
	if o.Speed < 0 {
		return nil, fmt.Errorf("%w: speed %d: want a positive multiple of 1x, or 0 for the drive's choice", ErrRefused, o.Speed)
	}
	p := &Plan{opts: o, Image: abs, Size: fi.Size()}
	switch {
	case strings.HasPrefix(o.Drive, "stdio:"):
		if !o.Engine.Pseudo() {
			return nil, fmt.Errorf("%w: stdio: pseudo-drives need libburn (xorriso or cdrskin), not %s", ErrUnsupported, o.Engine.Name())
		}
		d, probs, created, err := openPseudo(strings.TrimPrefix(o.Drive, "stdio:"), abs, true, o.VerifyOnly)
		if err != nil {
			return nil, err
		}
		p.Drive, p.Problems, p.created = d, probs, created
		if len(probs) == 0 && d.Busy == "" && !o.VerifyOnly {
			if err := o.Engine.Inspect(ctx, d); err != nil {
				d.MediaErr = err.Error()
			}
		}
	case o.Drive == "":
		d, err := pickDrive(ctx, o, p.Size)
		if err != nil {
			return nil, err
		}
		p.Drive = d
	default:
		if err := checkDrivePath(o.Drive); err != nil {
			return nil, err
		}
		d := &Drive{Path: o.Drive, Device: o.Drive}
		if o.VerifyOnly {
			// Only the device is read; the engine maps names like a drive
			// letter or number to it.
			_ = o.Engine.Inspect(ctx, d)
		} else {
			inspectDrive(ctx, o.Engine, d)
		}
		p.Drive = d
	}
	if o.VerifyOnly {
		if p.Drive.Device == "" {
			p.Problems = append(p.Problems, Problem{Code: ProblemUnknown, Detail: p.Drive.Path + ": cannot tell which device to read the disc from"})
		}
		return p, nil
	}
	if len(p.Problems) > 0 {
		// The target itself is refused: what disc it would hold does not
		// matter (and was not asked).
		return p, nil
	}
	p.Problems = Assess(p.Drive, p.Size, o.Blank)
	if m := p.Drive.Media; m != nil && len(p.Problems) == 0 {
		room := m.Free
		if o.Blank || m.Class == ClassOverwritable {
			room = max(m.Capacity, m.Free)
		}
		p.NoPad = room >= 0 && p.Size+padBytes > room
	}
	return p, nil
}

// pickDrive finds the one drive whose disc can take the image.
func pickDrive(ctx context.Context, o Options, size int64) (*Drive, error) {
	ds, err := ListDrives(ctx, o.Engine)
	if len(ds) == 0 {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: no optical drive found", ErrRefused)
	}
	var ok []*Drive
	var why []string
	for _, d := range ds {
		if probs := Assess(d, size, o.Blank); len(probs) > 0 {
			why = append(why, joinProblems(probs))
			continue
		}
		ok = append(ok, d)
	}
	switch len(ok) {
	case 1:
		return ok[0], nil
	case 0:
		return nil, fmt.Errorf("%w: no drive holds a disc the image can be written to: %s", ErrRefused, strings.Join(why, "; "))
	}
	var names []string
	for _, d := range ok {
		names = append(names, d.Path)
	}
	return nil, fmt.Errorf("%w: several drives could take the image (%s): name one", ErrRefused, strings.Join(names, ", "))
}

// Err is nil when the plan may run, else an error wrapping ErrRefused (or
// ErrBusy) that lists the problems.
func (p *Plan) Err() error {
	if len(p.Problems) == 0 {
		return nil
	}
	for _, pr := range p.Problems {
		if pr.Code == ProblemBusy {
			return fmt.Errorf("%w: %w: %s", ErrRefused, ErrBusy, joinProblems(p.Problems))
		}
	}
	return fmt.Errorf("%w: %s", ErrRefused, joinProblems(p.Problems))
}

// Erases says whether running the plan destroys data on the disc.
func (p *Plan) Erases() bool {
	m := p.Drive.Media
	return !p.opts.VerifyOnly && !p.opts.Dummy && m != nil && m.Present && m.State != StateBlank
}

// Close releases the pseudo-drive's file; a file Prepare created is
// removed again when nothing was written to it.
func (p *Plan) Close() error {
	if p.Drive == nil || p.Drive.file == nil {
		return nil
	}
	name := p.Drive.file.Name()
	err := p.Drive.file.Close()
	p.Drive.file = nil
	if p.created && (!p.started || p.opts.Dummy) {
		os.Remove(name)
	}
	return err
}

// Report says what Execute did.
type Report struct {
	Drive  string `json:"drive"`
	Engine string `json:"engine"`
	Image  string `json:"image"`
	Size   int64  `json:"size"`
	// Burned is set when the image was written (not for a simulation or
	// a verification only).
	Burned    bool          `json:"burned"`
	Dummy     bool          `json:"dummy,omitempty"`
	WriteTime time.Duration `json:"write_ns,omitempty"`
	// Verify is nil when the disc was not read back.
	Verify     *VerifyReport `json:"verify,omitempty"`
	VerifyTime time.Duration `json:"verify_ns,omitempty"`
	Ejected    bool          `json:"ejected,omitempty"`
	// Notes are things the user should know ("simulation: ...").
	Notes []string `json:"notes,omitempty"`
}

// Execute burns (unless VerifyOnly), reads the disc back and compares it
// (unless NoVerify or Dummy), and ejects it when asked. The error is the
// engine's failure (*EngineError) or a failure to read the image; a disc
// that does not match is reported in Report.Verify, not as an error.
func (p *Plan) Execute(ctx context.Context) (*Report, error) {
	if err := p.Err(); err != nil {
		return nil, err
	}
	o := p.opts
	d := p.Drive
	rep := &Report{Drive: d.Path, Engine: o.Engine.Name(), Image: p.Image, Size: p.Size, Dummy: o.Dummy}
	progress := func(pr Progress) {
		if o.Progress == nil {
			return
		}
		if pr.Phase == PhaseWrite {
			// Engines count in whole MiB, padding included.
			pr.Done, pr.Total = min(pr.Done, p.Size), p.Size
		}
		o.Progress(pr)
	}
	if !o.VerifyOnly {
		job := Job{Drive: d, Image: p.Image, Size: p.Size, Speed: o.Speed, Dummy: o.Dummy,
			Blank: o.Blank && d.Media != nil && d.Media.State != StateBlank, NoPad: p.NoPad}
		start := time.Now()
		p.started = true
		err := o.Engine.Burn(ctx, job, progress)
		rep.WriteTime = time.Since(start)
		if err != nil {
			return rep, err
		}
		rep.Burned = !o.Dummy
		progress(Progress{Phase: PhaseWrite, Done: p.Size, Total: p.Size, Percent: -1})
	}
	if o.Dummy {
		rep.Notes = append(rep.Notes, "simulation (--dummy): nothing was written, so nothing was read back")
		return rep, nil
	}
	if !o.NoVerify {
		start := time.Now()
		vr, note, err := p.verify(ctx, progress)
		rep.Verify, rep.VerifyTime = vr, time.Since(start)
		if note != "" {
			rep.Notes = append(rep.Notes, note)
		}
		if err != nil {
			return rep, err
		}
	}
	if o.Eject && !d.Pseudo {
		progress(Progress{Phase: PhaseEject, Percent: -1})
		if err := o.Engine.Eject(ctx, d); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("could not eject: %v", err))
		} else {
			rep.Ejected = true
		}
	} else if o.Eject {
		rep.Notes = append(rep.Notes, "a stdio: pseudo-drive has no tray to eject")
	}
	return rep, nil
}

// verify reads the disc back and compares it with the image.
func (p *Plan) verify(ctx context.Context, progress func(Progress)) (*VerifyReport, string, error) {
	var disc io.ReaderAt
	if p.Drive.file != nil {
		disc = p.Drive.file
	} else {
		r, c, err := openReadback(p.Drive.Device)
		if err != nil {
			return nil, "", fmt.Errorf("burn: opening %s to read the disc back: %w", p.Drive.Device, err)
		}
		defer c.Close()
		disc = r
	}
	f, err := os.Open(p.Image)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	// The image is the reference for naming files: its structures are
	// intact, the disc's may not be.
	note := ""
	img, err := isofmt.Open(f, p.Size, nil)
	if err != nil {
		note = fmt.Sprintf("the image is not an ISO 9660/UDF image isofsd can read (%v): bad sectors cannot be named by file", err)
	} else {
		defer img.Close()
	}
	vr, err := Verify(ctx, disc, f, p.Size, img, VerifyOptions{Progress: func(done, total int64) {
		progress(Progress{Phase: PhaseVerify, Done: done, Total: total, Percent: -1})
	}})
	return vr, note, err
}
