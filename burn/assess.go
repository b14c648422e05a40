package burn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/writer"
)

// Problem is one reason a drive cannot take the image. It is writer's
// type: a pseudo-drive's target is refused by writer.CheckTarget, with
// writer's codes, and the disc by Assess, with the codes below, in one
// list. burn has no override flags: Detail is what it shows.
type Problem = writer.Problem

// ProblemCode classifies why a drive is refused (writer's codes for the
// target of a pseudo-drive, these for drives and discs).
type ProblemCode = writer.ProblemCode

// Problem codes. None of them can be overridden: NeedsBlank is lifted by
// asking for the erase (Blank), which is the user's consent to lose what
// the disc holds.
const (
	ProblemNoMedia     ProblemCode = "no-media"
	ProblemReadOnly    ProblemCode = "read-only-media"
	ProblemUnknown     ProblemCode = "unknown-media"
	ProblemWrittenOnce ProblemCode = "not-blank-write-once"
	ProblemNeedsBlank  ProblemCode = "not-blank"
	ProblemTooSmall    ProblemCode = "too-small"
	ProblemBusy        ProblemCode = "busy"
	// ProblemTarget is a pseudo-drive's target isofsd will not open as
	// one: a symbolic link, neither a file nor a block device, or a path
	// that changed while it was opened.
	ProblemTarget ProblemCode = "bad-target"
)

// ErrRefused is wrapped by every error that refuses a drive, a disc or an
// image.
var ErrRefused = errors.New("burn: refused")

// ErrBusy is wrapped when a drive is in use by another program.
var ErrBusy = errors.New("burn: drive in use")

// ErrUnsupported is returned for what the engine or platform cannot do
// (a simulated burn with IMAPI2, stdio: pseudo-drives outside libburn).
var ErrUnsupported = errors.New("burn: not supported")

// Assess applies the safety rules to d for an image of imageSize bytes.
// blank says the user asked for rewritable media to be erased first.
// The rules: the drive must not be in use; it must hold a disc; the disc
// must be writable media of a known type; write-once media must be blank
// (nothing can make them blank again); rewritable and overwritable media
// that hold data are erased only when blank is set; and the space the
// write will have — what is free now, or the whole disc when it is erased
// first — must hold the image.
func Assess(d *Drive, imageSize int64, blank bool) []Problem {
	var probs []Problem
	add := func(code ProblemCode, format string, args ...any) {
		probs = append(probs, Problem{Code: code, Detail: fmt.Sprintf(format, args...)})
	}
	m := d.Media
	if d.Busy != "" {
		add(ProblemBusy, "%s is in use: %s", d.Path, d.Busy)
		if m == nil {
			return probs // a busy drive is not asked about its disc
		}
	}
	switch {
	case m == nil:
		why := d.MediaErr
		if why == "" {
			why = "the burn engine did not say"
		}
		add(ProblemUnknown, "%s: cannot tell what disc it holds (%s)", d.Path, why)
		return probs
	case !m.Present:
		add(ProblemNoMedia, "%s holds no disc", d.Path)
		return probs
	}
	// what names the disc; a pseudo-drive's is its file, which libburn
	// calls "stdio file, overwriteable": "a pseudo-disc" reads better.
	what := orUnknown(m.Type)
	if d.Pseudo {
		what = "pseudo-disc"
	}
	erase := false
	switch m.Class {
	case ClassReadOnly:
		add(ProblemReadOnly, "%s holds a %s, which cannot be written", d.Path, what)
		return probs
	case ClassUnknown:
		add(ProblemUnknown, "%s holds a disc of unknown type %q; isofsd writes only media it knows", d.Path, what)
		return probs
	case ClassWriteOnce:
		if m.State != StateBlank {
			add(ProblemWrittenOnce, "%s holds a %s that is not blank (%s): write-once media cannot be erased, use a blank disc", d.Path, what, m.State)
			return probs
		}
	case ClassRewritable, ClassOverwritable:
		switch {
		case m.State == StateBlank:
		case m.State == StateUnknown:
			if !blank {
				add(ProblemNeedsBlank, "%s holds a %s whose state is unknown: pass --blank to erase it first", d.Path, what)
				return probs
			}
			erase = true
		case !blank:
			add(ProblemNeedsBlank, "%s holds a %s that is not blank (%s): pass --blank to erase it first (everything on it is lost)", d.Path, what, m.State)
			return probs
		default:
			erase = true
		}
	}
	room := m.Free
	if erase || m.Class == ClassOverwritable {
		// Writing starts at the beginning: the whole medium is there.
		room = max(m.Capacity, m.Free)
	}
	if room >= 0 && imageSize > room {
		add(ProblemTooSmall, "%s: the %s takes %s (%d bytes), the image needs %s (%d bytes)", d.Path, what,
			units.Bytes(room), room, units.Bytes(imageSize), imageSize)
	}
	return probs
}

// joinProblems is the problems' details joined for one error line.
func joinProblems(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Detail
	}
	return strings.Join(s, "; ")
}
