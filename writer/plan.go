package writer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/isofsd/isofsd/writer/filecopy"
)

// Logger is the narrow logging interface the package writes through
// (*logrus.Logger satisfies it).
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}

// Phase names what a target is doing.
type Phase string

// Phases reported through Progress.
const (
	PhaseWrite  Phase = "write"
	PhaseSync   Phase = "sync"
	PhaseVerify Phase = "verify"
	PhaseMD5    Phase = "md5" // checking the implanted MD5 on a written target
	// PhaseVerifyFiles compares a file-copy target's files with the image.
	PhaseVerifyFiles Phase = "verify files"
	PhaseDone        Phase = "done"
	PhaseFailed      Phase = "failed"
)

// Progress is one update about one target. Updates for different targets
// arrive from different goroutines.
type Progress struct {
	Target string
	Phase  Phase
	// Done is how many image bytes were written (or verified) so far.
	Done int64
	// Total is the image size, -1 while unknown.
	Total int64
	// InputDone and InputTotal count the compressed input, for progress
	// when Total is unknown (InputTotal is -1 for stdin).
	InputDone, InputTotal int64
	Err                   error
}

// DefaultBlockSize is the I/O size: large enough that O_DIRECT keeps USB
// and SD controllers streaming, small enough to keep several in flight.
const DefaultBlockSize = 4 << 20

// Options configure Prepare and Execute.
type Options struct {
	// Policy holds Force and AllowLoop; ImageSize and SourceDevs are filled in by Prepare.
	Policy Policy
	// BlockSize is the I/O size (default DefaultBlockSize); a multiple of 4096.
	BlockSize int
	// NoVerify skips the read-back.
	NoVerify bool
	// ToFile allows targets that do not exist yet: they are created as
	// files. Without it a missing target is an error, so that a mistyped
	// /dev/sdX does not silently become a file in /dev.
	ToFile bool
	// Stdin is read when the source is "-" (default os.Stdin).
	Stdin io.Reader
	// Probe points device probing at other system files (tests).
	Probe *ProbeOptions
	// Log receives messages; nil discards them.
	Log Logger
	// Progress, if set, is called after every block and on phase changes.
	Progress func(Progress)
	// Mode is how the image goes on the targets (default ModeAuto).
	Mode Mode
	// FileCopy configures file-copy mode.
	FileCopy FileCopyOptions
	// Expect names, by target path, the drive each target must be: the
	// identity a picker saw when the user chose it. Any other drive
	// there (a stick swapped since) is refused, and so is a file.
	Expect map[string]Identity

	hooks *testHooks
}

// testHooks let tests inject faults between the stages of a write.
type testHooks struct {
	wrapSink     func(path string, s sink) sink
	beforeVerify func(path string) error
}

// Target is one destination in a plan.
type Target struct {
	Path string
	// Device is the assessed drive; nil for file targets.
	Device *Device
	// IsFile targets are regular files (created with ToFile).
	IsFile bool
	// Problems refuse the target; empty means it may be written.
	Problems []Problem
}

// Describe is a one-line summary for the confirmation prompt.
func (t *Target) Describe() string {
	if t.Device != nil {
		return t.Device.Describe()
	}
	return t.Path + ": file"
}

// Plan is a checked, not yet executed write.
type Plan struct {
	Source  *Source
	Image   *Inspection
	Targets []*Target
	// ImageProblems refuse the whole write (e.g. an image file-copy mode
	// cannot put on FAT32).
	ImageProblems []Problem
	// Mode is the chosen mode and ModeReason why; ModeWarning, if set,
	// is shown with them (a raw copy that will not boot).
	Mode        Mode
	ModeReason  string
	ModeWarning string
	// FileCopy and Disk are the file-copy plan and its layout (ModeFiles).
	FileCopy *filecopy.Plan
	Disk     *filecopy.Disk
	// MinSize is the smallest target the write fits: the image size, or
	// in file-copy mode the smallest drive for its files.
	MinSize int64
	opts    Options
}

// Prepare opens the source, inspects it and assesses every target. It
// writes nothing. The returned plan must be closed (or executed).
func Prepare(source string, targets []string, opts Options) (*Plan, error) {
	if len(targets) == 0 {
		return nil, errors.New("no target given")
	}
	if opts.Log == nil {
		opts.Log = nopLogger{}
	}
	if opts.BlockSize == 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if err := checkBlockSize(opts.BlockSize, 512); err != nil {
		return nil, err
	}
	src, err := OpenSource(source, opts.Stdin)
	if err != nil {
		return nil, err
	}
	p := &Plan{Source: src, opts: opts}
	for _, w := range src.Warnings {
		opts.Log.Warnf("%s", w)
	}
	p.Image = Inspect(src)
	p.MinSize = src.Size
	var refuse string
	p.Mode, p.ModeReason, p.ModeWarning, refuse = decideMode(p.Image, src, opts.Mode)
	if refuse != "" {
		p.ImageProblems = append(p.ImageProblems, Problem{Code: ProblemImage, Detail: refuse})
	} else if p.Mode == ModeFiles {
		if err := p.prepareFileCopy(); err != nil {
			p.ImageProblems = append(p.ImageProblems, Problem{Code: ProblemImage, Detail: err.Error()})
		}
	}

	pol := opts.Policy
	pol.ImageSize = p.MinSize
	pol.SourceName = source
	srcPath := source
	if source == "-" {
		// Stdin redirected from a file (`< image.iso`) still lives on a
		// drive; /dev/stdin resolves to it on Linux and macOS.
		srcPath = ""
		if f, ok := opts.Stdin.(*os.File); ok || opts.Stdin == nil {
			if f == nil {
				f = os.Stdin
			}
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				srcPath = f.Name()
			}
		}
	}
	if srcPath != "" {
		pol.Source, _ = os.Stat(srcPath)
		devs, err := SourceDevices(srcPath, opts.Probe)
		if err != nil && !errors.Is(err, ErrUnsupported) {
			opts.Log.Warnf("%s: could not find the drive holding it: %v", source, err)
		}
		pol.SourceDevs = devs
	}
	p.opts.Policy = pol

	// The same drive or file named twice (or through two paths) would be
	// written by two writers at once.
	type seenTarget struct {
		path string
		num  *DevNum
		fi   os.FileInfo
	}
	var seen []seenTarget
	for _, path := range targets {
		t, err := p.assessTarget(path, pol)
		if err != nil {
			p.Close()
			return nil, err
		}
		cur := seenTarget{path: path}
		if t.Device != nil {
			cur.num = &t.Device.Num
		} else if fi, err := os.Stat(path); err == nil {
			cur.fi = fi
		}
		for _, prev := range seen {
			same := prev.path == path ||
				(prev.num != nil && cur.num != nil && *prev.num == *cur.num) ||
				(prev.fi != nil && cur.fi != nil && os.SameFile(prev.fi, cur.fi))
			if same {
				p.Close()
				return nil, fmt.Errorf("%s and %s are the same target", prev.path, path)
			}
		}
		seen = append(seen, cur)
		p.Targets = append(p.Targets, t)
	}
	if p.FileCopy != nil && len(p.ImageProblems) == 0 {
		if err := p.layoutFileCopy(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *Plan) assessTarget(path string, pol Policy) (*Target, error) {
	t, err := CheckTarget(path, TargetOptions{Policy: pol, ToFile: p.opts.ToFile, Probe: p.opts.Probe})
	if err != nil {
		return nil, err
	}
	// The drive picked elsewhere (desktop write-usb) and no other.
	if want, ok := p.opts.Expect[path]; ok {
		switch d := t.Device; {
		case d == nil:
			t.Problems = append(t.Problems, Problem{Code: ProblemIdentity, Detail: fmt.Sprintf("%s is a file, not the drive that was picked", path)})
		default:
			if m := want.Mismatch(d.Identity()); m != "" {
				d.Problems = append(d.Problems, Problem{Code: ProblemIdentity, Detail: fmt.Sprintf("%s is not the drive that was picked: %s", path, m)})
				d.Eligible = false
				t.Problems = d.Problems
			}
		}
	}
	return t, nil
}

// TargetOptions are what CheckTarget checks a target against.
type TargetOptions struct {
	// Policy holds Force, AllowLoop, the image size, the source file and
	// the source's drives (see Policy).
	Policy Policy
	// ToFile allows regular-file targets: creating one that does not
	// exist, or overwriting one that does (Force allows the latter too).
	ToFile bool
	// Probe points device probing at other system files (tests).
	Probe *ProbeOptions
}

// CheckTarget is the one assessment of a path about to be written with
// an image, for every writer of devices and image files (write, rescue,
// file-copy mode, and burn's stdio: pseudo-drives): a drive must be one
// the policy allows (USB, MMC or removable unless Force; loop devices
// with AllowLoop), and never mounted, swap, holding the running system or
// the source, a loop device backed by the source file, read-only, too
// small, or under a stacked device (device-mapper, md, or a loop device
// backed by it) that is mounted or in use; a regular file is
// written only with ToFile (or Force, to overwrite one), never the source
// itself, and never while a loop device backed by it is in use. A path
// that is neither (a directory, a missing /dev node, a FIFO) is an error.
// The returned Target's Problems list every refusal; none means it may be
// written. Nothing is written or locked: the writer reopens the target
// exclusively and checks again (OpenDevice).
func CheckTarget(path string, o TargetOptions) (*Target, error) {
	t := &Target{Path: path}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !isDevicePath(path, nil):
		if !o.ToFile {
			return nil, fmt.Errorf("%s does not exist (use --to-file to create an image file)", path)
		}
		t.IsFile = true
		return t, nil
	case err != nil && !isDevicePath(path, nil):
		return nil, err
	case err == nil && fi.Mode().IsRegular():
		t.IsFile = true
		if o.Policy.Source != nil && os.SameFile(fi, o.Policy.Source) {
			t.Problems = append(t.Problems, Problem{Code: ProblemSource, Detail: fmt.Sprintf("%s is the source image itself", path)})
		}
		if !o.ToFile && !o.Policy.Force {
			t.Problems = append(t.Problems, Problem{Code: ProblemExists, Overridable: true,
				Detail: fmt.Sprintf("%s is an existing file", path), Override: "overwrite it only with --to-file (or --force)"})
		}
		loops, err := fileLoops(path, o.Probe.withDefaults())
		if err != nil {
			return nil, err
		}
		for _, l := range loops {
			t.Problems = append(t.Problems, fileLoopProblems(path, l, o.Policy.Force)...)
		}
		return t, nil
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if !isDevicePath(path, fi) {
		return nil, fmt.Errorf("%s is neither a drive nor a regular file", path)
	}
	d, err := LookupDevice(path, o.Probe)
	if err != nil {
		return nil, err
	}
	d.Assess(o.Policy)
	t.Device = d
	t.Problems = d.Problems
	return t, nil
}

// fileLoopProblems refuses a file that backs loop device l: always while
// l (or something stacked on it) is mounted, swap or held — the file
// would be rewritten under a live file system — and, unless force, while
// l is merely attached.
func fileLoopProblems(path string, l *Device, force bool) []Problem {
	var out []Problem
	for _, m := range l.Mounts {
		who := l.Path
		if m.Device != l.Name {
			who = fmt.Sprintf("%s (through %s)", l.Path, m.Device)
		}
		out = append(out, Problem{Code: ProblemMounted,
			Detail: fmt.Sprintf("%s backs the loop device %s, which is mounted at %s (%s); unmount it and detach the loop device first", path, who, m.MountPoint, m.FSType)})
	}
	for _, s := range l.Swaps {
		out = append(out, Problem{Code: ProblemSwap, Detail: fmt.Sprintf("%s backs the loop device %s, in use as swap (%s)", path, l.Path, s)})
	}
	for _, h := range l.HeldBy {
		out = append(out, Problem{Code: ProblemHeld, Detail: fmt.Sprintf("%s backs the loop device %s, on which %s is in use", path, l.Path, h)})
	}
	if len(out) == 0 && !force {
		out = append(out, Problem{Code: ProblemHeld, Overridable: true,
			Detail:   fmt.Sprintf("%s backs the loop device %s: detach it first (losetup -d %s)", path, l.Path, l.Path),
			Override: "or pass --force"})
	}
	return out
}

// Err reports every reason the plan cannot run, or nil.
func (p *Plan) Err() error {
	var msgs []string
	for _, pr := range p.ImageProblems {
		msgs = append(msgs, pr.String())
	}
	for _, t := range p.Targets {
		for _, pr := range t.Problems {
			msgs = append(msgs, pr.String())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrRefused, strings.Join(msgs, "; "))
}

// Close releases the source. Execute closes it too.
func (p *Plan) Close() error { return p.Source.Close() }

// Result is the outcome for one target.
type Result struct {
	Target  string
	Written int64
	// WriteTime covers writing and the final sync.
	WriteTime  time.Duration
	VerifyTime time.Duration
	// Verified is true only when the read-back matched every byte.
	Verified bool
	// BadOffset is the first offset found different on read-back, or -1.
	BadOffset int64
	Direct    bool
	// FilesVerified counts the files compared with the image (file-copy
	// mode).
	FilesVerified int
	Err           error
}

// Report is the outcome of Execute.
type Report struct {
	// Size is the number of image bytes written.
	Size    int64
	Results []*Result
	// ImplantedMD5 is the result of checking the image's implanted MD5
	// (isomd5sum), if it has one.
	ImplantedMD5 *MD5Check
}

// Failed counts targets that did not finish (or did not verify).
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if res.Err != nil {
			n++
		}
	}
	return n
}
