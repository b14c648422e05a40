package isofmt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// mutationAllocBound is what one mutated run may allocate: exercise reads
// at most 1 MiB of each file through a 1 MiB cache, so anything near this
// means a size the image only claims was trusted.
const mutationAllocBound = 64 << 20

// generatedSeeds builds small images with the tools CI installs (each
// skipped when its tool is missing): xorriso Rock Ridge + Joliet with a
// symlink, a hard link and a zisofs file, and a genisoimage UDF bridge.
func generatedSeeds(t *testing.T) [][]byte {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), bytes.Repeat([]byte("hello "), 3000), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "deeper", "b.bin"), bytes.Repeat([]byte{1, 2, 3}, 20000), 0o600)
	os.Symlink("../a.txt", filepath.Join(src, "sub", "link"))
	os.Link(filepath.Join(src, "a.txt"), filepath.Join(src, "sub", "hard.txt"))
	var out [][]byte
	build := func(name string, args ...string) {
		if _, err := exec.LookPath(name); err != nil {
			t.Logf("mutation seeds: %s not installed, skipped", name)
			return
		}
		img := filepath.Join(dir, fmt.Sprintf("g%d.iso", len(out)))
		args = append(args, "-o", img, src)
		if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	build("xorriso", "-as", "mkisofs", "-R", "-J", "-quiet")
	build("genisoimage", "-R", "-J", "-udf", "-quiet")
	if _, err := exec.LookPath("xorriso"); err == nil {
		img := filepath.Join(dir, "zisofs.iso")
		cmd := exec.Command("xorriso", "-outdev", img, "-zisofs", "level=9", "-map", src, "/", "-set_filter_r", "--zisofs", "/", "--")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xorriso zisofs: %v\n%s", err, b)
		}
		b, _ := os.ReadFile(img)
		out = append(out, b)
	}
	return out
}

// TestMutatedImages flips bytes of real images — in the descriptors, in
// the directory and SUSP areas, anywhere — and truncates them, then opens,
// walks every tree and reads every file. Each run must end within a time
// bound without panicking; a run that does not is reported with the
// goroutine stacks and the mutation that caused it.
func TestMutatedImages(t *testing.T) {
	seeds := append(smallCorpus(t, 512<<10), generatedSeeds(t)...)
	if len(seeds) == 0 {
		t.Skip("no corpus images and no image tools")
	}
	var maxAlloc uint64
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
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		go func() {
			defer close(done)
			exercise(data)
		}()
		select {
		case <-done:
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			maxAlloc = max(maxAlloc, alloc)
			if alloc > mutationAllocBound {
				t.Errorf("run %d (%s of a %d-byte image) allocated %d MiB (bound %d MiB)", i, what, len(base), alloc>>20, mutationAllocBound>>20)
			}
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("run %d (%s of a %d-byte image) did not finish in 20 s:\n%s", i, what, len(base), buf[:n])
		}
	}
	t.Logf("%d runs over %d seed images; the most one run allocated: %.1f MiB", runs, len(seeds), float64(maxAlloc)/(1<<20))
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
