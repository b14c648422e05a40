package burn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/isofsd/isofsd/internal/units"
)

// Phase names what a burn is doing.
type Phase string

// Phases reported through Progress.
const (
	PhaseBlank  Phase = "blank"  // erasing rewritable media
	PhaseWrite  Phase = "write"  // writing the image
	PhaseClose  Phase = "close"  // closing the track, session and disc
	PhaseVerify Phase = "verify" // reading the disc back
	PhaseEject  Phase = "eject"
)

// Progress is one update of a running burn.
type Progress struct {
	Phase Phase
	// Done and Total count image bytes (Total 0 when unknown).
	Done, Total int64
	// Percent is the phase's completion when the engine reports it as a
	// percentage (blanking, hdiutil), -1 otherwise.
	Percent float64
	// Speed is the engine's current speed text ("4.0x"), when it says.
	Speed string
}

// Job is one burn handed to an engine.
type Job struct {
	Drive *Drive
	// Image is the absolute path of the image; Size its length.
	Image string
	Size  int64
	// Speed is the write speed as a multiple of the medium's 1x; 0 lets
	// the drive choose its fastest.
	Speed int
	// Dummy simulates the burn (the laser stays off) where the engine and
	// drive support it.
	Dummy bool
	// Blank erases rewritable media before writing.
	Blank bool
	// NoPad leaves out the 300 KiB of zeros libburn appends to a track
	// (a work-around for Linux reading the end of CD tracks); set when
	// the image fits the disc only without them.
	NoPad bool
}

// Engine is a burn engine: the program or API that talks to drives.
type Engine interface {
	// Name names the engine ("xorriso", "cdrskin", "hdiutil", "imapi2").
	Name() string
	// Drives lists the drives the engine can use.
	Drives(ctx context.Context) ([]*Drive, error)
	// Inspect reads d's identity and the state of its medium into d.
	Inspect(ctx context.Context, d *Drive) error
	// Burn writes the job's image and closes the disc, reporting progress.
	Burn(ctx context.Context, job Job, progress func(Progress)) error
	// Eject opens d's tray.
	Eject(ctx context.Context, d *Drive) error
	// Pseudo says whether the engine supports stdio: pseudo-drives.
	Pseudo() bool
}

// EngineError is a failed run of a burn engine.
type EngineError struct {
	Engine string `json:"engine"`
	// Op is what was asked: "burn", "inspect", "list drives", "eject".
	Op string `json:"op"`
	// Status is how the program ended ("exit status 5", "signal: killed")
	// or the API's error.
	Status string `json:"status,omitempty"`
	// Messages are the error messages it printed, oldest first.
	Messages []Message `json:"messages,omitempty"`
	// Started is set once writing had begun: the disc was changed and a
	// write-once disc is probably spoiled.
	Started bool `json:"started"`
	// Written is how many bytes the engine reported written.
	Written int64 `json:"written"`
	// Busy is set when the engine found the drive in use.
	Busy bool `json:"busy,omitempty"`
	// Interrupted is set when the run was cancelled (Ctrl-C).
	Interrupted bool `json:"interrupted,omitempty"`
	// Signal is the signal libburn reported catching ("SIGTERM").
	Signal string `json:"signal,omitempty"`
}

// maxKeptMessages caps the messages an EngineError keeps.
const maxKeptMessages = 12

func (e *EngineError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s failed", e.Engine, e.Op)
	switch {
	case e.Interrupted:
		b.WriteString(": interrupted")
	case e.Status != "":
		b.WriteString(" (" + e.Status + ")")
	}
	if e.Started {
		fmt.Fprintf(&b, " after writing %s: the disc is incomplete", units.Bytes(e.Written))
	}
	if e.Signal != "" {
		fmt.Fprintf(&b, " (it received %s)", e.Signal)
	}
	if m, ok := e.cause(); ok {
		b.WriteString(": " + m.Text)
	}
	return b.String()
}

// cause is the message that best says what went wrong: the first FATAL
// or FAILURE, else the first SORRY or MISHAP (ABORT lines narrate the
// shutdown; later errors are echoes), else the first error of any kind.
func (e *EngineError) cause() (Message, bool) {
	for _, sev := range [][]string{{"FATAL", "FAILURE"}, {"SORRY", "MISHAP"}} {
		for _, m := range e.Messages {
			if m.Severity == sev[0] || m.Severity == sev[1] {
				return m, true
			}
		}
	}
	if len(e.Messages) > 0 {
		return e.Messages[0], true
	}
	return Message{}, false
}

func (e *EngineError) Unwrap() error {
	switch {
	case e.Busy:
		return ErrBusy
	case e.Interrupted:
		return context.Canceled
	}
	return nil
}

// ErrNoEngine is returned when no burn engine is installed.
var ErrNoEngine = errors.New("burn: no burn engine found")
