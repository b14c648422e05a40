package main

// Byte progress bars for the long-running subcommands (extract, salvage,
// verify, carve, rescue, write): one set-up, newBar, for all of them.
// Bars are drawn only when stderr is a terminal, so scripts, logs and CI
// output carry no bar noise.

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// newBar returns a byte bar for total bytes drawn on w, with the options
// every subcommand shares and extra ones a caller adds. Its clock starts
// now: a bar whose clock starts at its first update shows the bytes done
// before that update over no time at all (a first frame of "14 TB/s").
func newBar(w io.Writer, total int64, desc string, extra ...progressbar.Option) *progressbar.ProgressBar {
	opts := append([]progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
	}, extra...)
	b := progressbar.NewOptions64(total, opts...)
	b.StartWithoutRender()
	return b
}

// stderrIsTerminal says whether bars should be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// progress counts bytes done toward a total and draws them as a bar that
// is cleared when done. It implements extract.Progress. A nil *progress
// is valid and does nothing, so callers never check whether a bar is
// shown.
type progress struct {
	w    io.Writer
	desc string
	bar  *progressbar.ProgressBar
	done atomic.Int64
	stop chan struct{}
	exit chan struct{}
}

// newProgress returns a progress for stderr, or nil when stderr is not a
// terminal.
func newProgress(desc string) *progress {
	if !stderrIsTerminal() {
		return nil
	}
	return newProgressTo(os.Stderr, desc)
}

// newProgressTo draws on w unconditionally (tests use it).
func newProgressTo(w io.Writer, desc string) *progress {
	return &progress{w: w, desc: desc, stop: make(chan struct{}), exit: make(chan struct{})}
}

// Start draws the bar for total bytes.
func (p *progress) Start(total int64) {
	if p == nil || p.bar != nil {
		return
	}
	p.bar = newBar(p.w, total, p.desc, progressbar.OptionClearOnFinish())
	// Workers only bump an atomic counter; one goroutine feeds the bar, so
	// a hundred thousand tiny files cost no lock traffic on the bar.
	go p.loop()
}

func (p *progress) loop() {
	defer close(p.exit)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.bar.Set64(p.done.Load())
		case <-p.stop:
			p.bar.Set64(p.done.Load())
			return
		}
	}
}

// Add records n more bytes done.
func (p *progress) Add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// Done returns the bytes recorded so far.
func (p *progress) Done() int64 {
	if p == nil {
		return 0
	}
	return p.done.Load()
}

// Finish stops the bar and clears it from the terminal.
func (p *progress) Finish() {
	if p == nil || p.bar == nil {
		return
	}
	close(p.stop)
	<-p.exit
	_ = p.bar.Finish()
}
