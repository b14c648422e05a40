package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgressNil checks that a nil progress (stderr not a terminal) is
// safe to use from every call site.
func TestProgressNil(t *testing.T) {
	var p *progress
	p.Add(10)
	if p.Done() != 0 {
		t.Errorf("nil progress counts %d", p.Done())
	}
	p.Finish()
	// In `go test` stderr is not a terminal: no bar.
	if q := newProgress(100, "x"); q != nil {
		q.Finish()
		t.Errorf("newProgress drew a bar on a non-terminal stderr")
	}
}

// TestProgressDraws adds bytes from many goroutines and checks the total
// and that the bar was drawn with bytes and the description.
func TestProgressDraws(t *testing.T) {
	var buf bytes.Buffer
	const total = 64 << 20
	p := newProgressTo(&syncWriter{w: &buf}, total, "extract")
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

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
