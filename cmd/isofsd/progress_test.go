package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgressNil checks that a nil progress (stderr not a terminal) is
// safe to use from every call site.
func TestProgressNil(t *testing.T) {
	var p *progress
	p.Start(100)
	p.Add(10)
	if p.Done() != 0 {
		t.Errorf("nil progress counts %d", p.Done())
	}
	p.Finish()
	// In `go test` stderr is not a terminal: no bar.
	if q := newProgress("x"); q != nil {
		q.Finish()
		t.Errorf("newProgress drew a bar on a non-terminal stderr")
	}
}

// TestProgressDraws adds bytes from many goroutines and checks the total
// and that the bar was drawn with bytes and the description.
func TestProgressDraws(t *testing.T) {
	var buf bytes.Buffer
	const total = 64 << 20
	p := newProgressTo(&syncWriter{w: &buf}, "extract")
	p.Start(total)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				p.Add(1 << 20)
				time.Sleep(40 * time.Millisecond) // let the 100 ms ticker draw
			}
		}()
	}
	wg.Wait()
	if p.Done() != total {
		t.Errorf("done %d, want %d", p.Done(), total)
	}
	p.Finish()
	out := buf.String()
	if !strings.Contains(out, "extract") || !strings.Contains(out, "MB") {
		t.Errorf("bar output lacks description or byte units: %q", out)
	}
}

// TestProgressFirstFrameRate: the first frame's rate is the bytes done
// over the time since the bar started, never over the instant of that
// first update. Before, the bar's clock started at its first update, so
// the 1 GB an extraction had done by then showed as some TB/s. The bound
// holds however slow the machine is: the bar is fed by a 100 ms ticker
// that starts with it, so no frame is drawn sooner.
func TestProgressFirstFrameRate(t *testing.T) {
	var buf bytes.Buffer
	w := &syncWriter{w: &buf}
	p := newProgressTo(w, "extract")
	const added = 1 << 30
	p.Start(4 << 30)
	p.Add(added)
	for i := 0; i < 100 && !strings.Contains(w.String(), "/s"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	p.Finish()
	m := regexp.MustCompile(`([0-9.]+) ([kMGTP]?B)/s`).FindStringSubmatch(w.String())
	if m == nil {
		t.Fatalf("no rate drawn: %q", w.String())
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}[m[2]]
	if limit := float64(added) / 0.1; v*unit > limit*1.05 {
		t.Errorf("first frame shows %s %s/s; at most %.0f B/s is possible (%d bytes in >= 100 ms)", m[1], m[2], limit, added)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
