package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// gcHeapFloor is the heap a mount daemon may reach before its garbage
// collector starts to hold it to mountGCPercent above the live heap.
// With GOGC 25 alone, the first collections come at a heap of 1 MiB and
// a `find` over 100 000 entries ran 24 of them, each marking a growing
// tree of parsed entries; with the floor it runs 8, and a daemon whose
// live heap is past the floor (the walk ends at ~34 MiB) is held exactly
// as before.
const gcHeapFloor = 24 << 20

// gcSentinel is an object whose collection marks the end of a cycle.
type gcSentinel struct{ _ *byte }

// tuneGC sets the collector's target percentage after every cycle: percent
// once the live heap is past floor, and as much more as lets the heap
// reach floor while it is below. stop ends the tuning and restores the
// percentage that was set before.
func tuneGC(percent int, floor uint64) (stop func()) {
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	target := func(live uint64) int {
		if live == 0 {
			live = 4 << 20 // before the first cycle the runtime assumes 4 MiB
		}
		if live >= floor {
			return percent
		}
		return max(percent, int((floor-live)*100/live))
	}
	prev := debug.SetGCPercent(target(0))
	var arm func()
	arm = func() {
		runtime.AddCleanup(&gcSentinel{}, func(struct{}) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			live := uint64(0)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				live = sample[0].Value.Uint64()
			}
			debug.SetGCPercent(target(live))
			arm()
		}, struct{}{})
	}
	arm()
	return func() {
		if !stopped.Swap(true) {
			debug.SetGCPercent(prev)
		}
	}
}
