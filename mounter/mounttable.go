package mounter

import (
	"os"
	"sync"

	"github.com/isofsd/isofsd/internal/mountinfo"
)

// mountTable shares reads of /proc/self/mountinfo between goroutines that
// each need a copy read after their own mount: one read serves every
// caller that arrived before it started. A daemon mounting a thousand
// images, 16 at a time, otherwise has the kernel format its
// thousand-line table once per mount — half of the CPU time it spends
// mounting.
type mountTable struct {
	mu      sync.Mutex
	cond    *sync.Cond
	reading bool
	started uint64 // reads begun
	done    uint64 // the read whose copy data holds
	data    []byte
	err     error
}

func (t *mountTable) read() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cond == nil {
		t.cond = sync.NewCond(&t.mu)
	}
	// A read already under way may have begun before our mount: only
	// the next one to begin will do.
	want := t.started + 1
	for t.done < want {
		if t.reading {
			t.cond.Wait()
			continue
		}
		t.reading = true
		t.started++
		gen := t.started
		t.mu.Unlock()
		data, err := os.ReadFile(mountinfo.Path)
		t.mu.Lock()
		t.reading = false
		t.data, t.err, t.done = data, err, gen
		t.cond.Broadcast()
	}
	return t.data, t.err
}
