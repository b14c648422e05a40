package isofmt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMutatedImages flips bytes of real images — in the descriptors, in
// the directory and SUSP areas, anywhere — and truncates them, then opens,
// walks every tree and reads every file. Each run must end within a time
// bound without panicking; a run that does not is reported with the
// goroutine stacks and the mutation that caused it.
func TestMutatedImages(t *testing.T) {
	seeds := smallCorpus(t, 512<<10)
	if len(seeds) == 0 {
		t.Skip("no corpus images")
	}
	runs := 3000
	if n := os.Getenv("ISOFMT_MUTATIONS"); n != "" {
		fmt.Sscan(n, &runs)
	}
	if testing.Short() {
		runs = 300
	}
	rng := rand.New(rand.NewPCG(42, 9))
	for i := 0; i < runs; i++ {
		base := seeds[rng.IntN(len(seeds))]
		data := bytes.Clone(base)
		var what string
		switch rng.IntN(4) {
		case 0: // the descriptor area
			what = flip(rng, data, 32768, min(len(data), 40960), 1+rng.IntN(8))
		case 1: // past the descriptors: directories, SUSP, UDF tags
			what = flip(rng, data, 36864, len(data), 1+rng.IntN(32))
		case 2: // anywhere, many bytes
			what = flip(rng, data, 0, len(data), 1+rng.IntN(256))
		case 3:
			cut := rng.IntN(len(data))
			data = data[:cut]
			what = fmt.Sprintf("truncated to %d", cut)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			exercise(data)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("run %d (%s of a %d-byte image) did not finish in 20 s:\n%s", i, what, len(base), buf[:n])
		}
	}
}

func flip(rng *rand.Rand, data []byte, from, to, n int) string {
	if to <= from {
		return "nothing flipped"
	}
	for k := 0; k < n; k++ {
		data[from+rng.IntN(to-from)] ^= byte(1 + rng.IntN(255))
	}
	return fmt.Sprintf("%d bytes flipped in %d..%d", n, from, to)
}
