package main

// A byte progress bar shared by the long-running subcommands (extract,
// write, verify...). It draws only when stderr is a terminal, so scripts,
// logs and CI output carry no bar noise.

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress counts bytes done toward a total. A nil *progress is valid and
// does nothing, so callers never need to check whether a bar is shown.
type progress struct {
	bar  *progressbar.ProgressBar
	done atomic.Int64
	stop chan struct{}
	exit chan struct{}
}

// newProgress returns a bar on stderr, or nil when stderr is not a terminal.
func newProgress(total int64, desc string) *progress {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return newProgressTo(os.Stderr, total, desc)
}

// newProgressTo draws a bar on w unconditionally (tests use it).
func newProgressTo(w io.Writer, total int64, desc string) *progress {
	p := &progress{
		bar: progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		),
		stop: make(chan struct{}),
		exit: make(chan struct{}),
	}
	// Workers only bump an atomic counter; one goroutine feeds the bar, so
	// a hundred thousand tiny files cost no lock traffic on the bar.
	go p.loop()
	return p
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
	if p == nil {
		return
	}
	close(p.stop)
	<-p.exit
	_ = p.bar.Finish()
}
