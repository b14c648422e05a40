package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the collector's current target percentage.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitPercent collects until the tuner has set a percentage satisfying ok.
func waitPercent(t *testing.T, what string, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // cleanups run on their own goroutine
		if p := gcPercent(); ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: GC percent still %d", what, gcPercent())
		}
	}
}

// TestTuneGC: while the live heap is under the floor the collector lets
// the heap grow to the floor; past it, the percentage is the base one;
// stop restores what was set before.
func TestTuneGC(t *testing.T) {
	const floor = 64 << 20
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	stop := tuneGC(25, floor)
	// A small live heap: the target is far above 25 % (64 MiB over a
	// few MiB of live heap is well over 300 %).
	p := waitPercent(t, "small heap", func(p int) bool { return p > 300 })
	// A live heap past the floor: back to 25 %.
	keep := make([][]byte, 0, 96)
	for range 96 {
		keep = append(keep, make([]byte, 1<<20))
	}
	waitPercent(t, "heap past the floor", func(p int) bool { return p == 25 })
	runtime.KeepAlive(keep)
	stop()
	if got := gcPercent(); got != 77 {
		t.Fatalf("after stop the GC percent is %d, want the 77 set before (small-heap target was %d)", got, p)
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gcPercent(); got != 77 {
		t.Fatalf("a cleanup after stop changed the GC percent to %d", got)
	}
}
