package recover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// span is a half-open byte range.
type span struct{ lo, hi int64 }

// faulty is a source that fails every read touching a bad span, like a
// device returning EIO for the whole request. flaky spans fail only the
// first failures times they are touched.
type faulty struct {
	data     []byte
	bad      []span
	flaky    []span
	failures int
	// partial makes a failing read return the bytes before the first bad
	// one, as some drivers do, instead of nothing.
	partial bool

	mu      sync.Mutex
	touched map[int]int // flaky span index -> times failed
	reads   []span
}

func (f *faulty) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := off + int64(len(p))
	f.reads = append(f.reads, span{off, end})
	for _, b := range f.bad {
		if off < b.hi && end > b.lo {
			if f.partial && b.lo > off {
				return copy(p[:b.lo-off], f.data[off:]), syscall.EIO
			}
			return 0, syscall.EIO
		}
	}
	for i, b := range f.flaky {
		if off < b.hi && end > b.lo && f.touched[i] < f.failures {
			if f.touched == nil {
				f.touched = map[int]int{}
			}
			f.touched[i]++
			return 0, syscall.EIO
		}
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// memOut is an io.WriterAt over a byte slice.
type memOut struct{ b []byte }

func (m *memOut) WriteAt(p []byte, off int64) (int, error) {
	if need := off + int64(len(p)); need > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, need-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func randomData(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// expectBad returns the set of sectors (index) overlapping any bad span.
func expectBad(size, sector int64, bad []span) map[int64]bool {
	out := map[int64]bool{}
	for _, b := range bad {
		for s := b.lo / sector; s*sector < b.hi && s*sector < size; s++ {
			out[s] = true
		}
	}
	return out
}

// checkRescue verifies output and map: bytes outside bad sectors equal the
// source, the map is Finished there and BadSector exactly on bad sectors.
func checkRescue(t *testing.T, data, out []byte, m *ddmap.Map, sector int64, bad []span) {
	t.Helper()
	size := int64(len(data))
	if m.Size() != size {
		t.Fatalf("map covers %d bytes, want %d", m.Size(), size)
	}
	want := expectBad(size, sector, bad)
	for s := int64(0); s*sector < size; s++ {
		lo, hi := s*sector, min((s+1)*sector, size)
		for p := lo; p < hi; p++ {
			st, _ := m.StatusAt(p)
			if want[s] && st != ddmap.BadSector {
				t.Fatalf("byte %d (sector %d): status %c, want -", p, s, st)
			}
			if !want[s] && st != ddmap.Finished {
				t.Fatalf("byte %d (sector %d): status %c, want +", p, s, st)
			}
		}
		if !want[s] && (int64(len(out)) < hi || !bytes.Equal(out[lo:hi], data[lo:hi])) {
			t.Fatalf("sector %d differs from the source", s)
		}
	}
}

func TestRescue(t *testing.T) {
	const S = 2048
	tests := []struct {
		name    string
		size    int64
		cluster int64
		bad     []span
	}{
		{"clean", 3<<20 + 7*S, 1 << 20, nil},
		{"one bad sector", 3 << 20, 1 << 20, []span{{5 * S, 6 * S}}},
		{"unaligned bad bytes", 3 << 20, 64 << 10, []span{{100*S + 17, 100*S + 18}, {900*S + 2000, 900*S + 2100}}},
		{"bad run across clusters", 4 << 20, 64 << 10, []span{{30 * S, 300 * S}}},
		{"many runs trigger skipping", 8 << 20, 64 << 10, []span{{40 * S, 41 * S}, {80 * S, 90 * S}, {120 * S, 121 * S}, {122 * S, 130 * S}, {1500 * S, 1600 * S}}},
		{"first and last sectors", 2<<20 + 1000, 1 << 20, []span{{0, 1}, {2<<20 + 999, 2<<20 + 1000}}},
		{"unaligned size tail bad", 1<<20 + 1000, 256 << 10, []span{{1 << 20, 1<<20 + 1}}},
		{"all bad", 64 * S, 16 * S, []span{{0, 64 * S}}},
	}
	for _, tc := range tests {
		for _, partial := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/partial=%v", tc.name, partial), func(t *testing.T) {
				data := randomData(int(tc.size), 1)
				src := &faulty{data: data, bad: tc.bad, partial: partial}
				out := &memOut{}
				m := ddmap.New(tc.size)
				saves := 0
				err := Rescue(context.Background(), src, tc.size, out, m, RescueOptions{
					SectorSize: S, ClusterSize: tc.cluster, Retries: 1,
					SaveMap: func(*ddmap.Map) error { saves++; return nil },
				})
				if err != nil {
					t.Fatal(err)
				}
				checkRescue(t, data, out.b, m, S, tc.bad)
				if m.Phase != ddmap.Done {
					t.Errorf("phase %c, want +", m.Phase)
				}
				if saves == 0 {
					t.Error("map never saved")
				}
				// Good data is read once: total bytes read outside bad sectors
				// may not exceed the good size by more than the retry/trim reads
				// of sectors next to errors.
				var readBytes int64
				for _, r := range src.reads {
					readBytes += r.hi - r.lo
				}
				if len(tc.bad) == 0 && readBytes != tc.size {
					t.Errorf("clean source: read %d bytes for %d", readBytes, tc.size)
				}
			})
		}
	}
}

func TestRescueFlakyRecoveredByRetry(t *testing.T) {
	const S = 2048
	size := int64(1 << 20)
	data := randomData(int(size), 2)
	// Each flaky span fails 3 times: copy, trim/scrape, first retry; the
	// second retry pass reads it.
	src := &faulty{data: data, flaky: []span{{10 * S, 12 * S}}, failures: 4}
	for retries, wantBad := range map[int]bool{0: true, 3: false} {
		src.touched, src.reads = nil, nil
		out := &memOut{}
		m := ddmap.New(size)
		if err := Rescue(context.Background(), src, size, out, m, RescueOptions{SectorSize: S, ClusterSize: 64 << 10, Retries: retries}); err != nil {
			t.Fatal(err)
		}
		var bad []span
		if wantBad {
			bad = src.flaky
		}
		checkRescue(t, data, out.b, m, S, bad)
	}
}

// TestRescueResume interrupts a rescue (context cancelled from the
// progress callback), reloads the saved map from disk and finishes: the
// finished part is not read again and the result is the same as an
// uninterrupted run.
func TestRescueResume(t *testing.T) {
	const S = 2048
	size := int64(6 << 20)
	data := randomData(int(size), 3)
	bad := []span{{700 * S, 710 * S}, {2500 * S, 2501 * S}}
	dir := t.TempDir()
	mapPath := filepath.Join(dir, "m.map")
	save := func(m *ddmap.Map) error { return m.Save(mapPath) }
	for _, stopAt := range []ddmap.Phase{ddmap.Copying, ddmap.Trimming, ddmap.Scraping} {
		t.Run(string(stopAt), func(t *testing.T) {
			os.Remove(mapPath)
			out := &memOut{}
			src := &faulty{data: data, bad: bad}
			ctx, cancel := context.WithCancel(context.Background())
			calls := 0
			err := Rescue(ctx, src, size, out, ddmap.New(size), RescueOptions{
				SectorSize: S, ClusterSize: 256 << 10, SaveMap: save, ProgressInterval: -1,
				Progress: func(p RescueProgress) {
					if p.Phase == stopAt {
						if calls++; calls == 2 {
							cancel()
						}
					}
				},
			})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: %v", err)
			}
			m, err := ddmap.Load(mapPath)
			if err != nil {
				t.Fatal(err)
			}
			if m.Phase != stopAt {
				t.Fatalf("saved phase %c, want %c", m.Phase, stopAt)
			}
			saved := append([]ddmap.Block(nil), m.Blocks...)
			src2 := &faulty{data: data, bad: bad}
			if err := Rescue(context.Background(), src2, size, out, m, RescueOptions{SectorSize: S, ClusterSize: 256 << 10, SaveMap: save}); err != nil {
				t.Fatal(err)
			}
			checkRescue(t, data, out.b, m, S, bad)
			// Nothing finished before the restart is read again.
			for _, r := range src2.reads {
				for _, b := range saved {
					if b.Status == ddmap.Finished && r.lo < b.End() && r.hi > b.Pos {
						t.Fatalf("resumed run re-read [%d,%d), finished before the restart", r.lo, r.hi)
					}
				}
			}
		})
	}
}

// TestRescueInteropGNUddrescue starts with a map left by GNU ddrescue (run
// with -s so it stops early) and checks that Rescue reads only the rest;
// then the opposite: ddrescue finishes from a map we saved mid-way.
func TestRescueInteropGNUddrescue(t *testing.T) {
	isotest.RequireTool(t, "ddrescue")
	dir := t.TempDir()
	size := int64(3<<20 + 4096)
	data := randomData(int(size), 4)
	srcPath := filepath.Join(dir, "src")
	if err := os.WriteFile(srcPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	mapPath := filepath.Join(dir, "g.map")
	if out, err := exec.Command("ddrescue", "-s", "1000000", srcPath, outPath, mapPath).CombinedOutput(); err != nil {
		t.Fatalf("ddrescue: %v\n%s", err, out)
	}
	m, err := ddmap.Load(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	before := m.Totals()[ddmap.Finished].Bytes
	if before == 0 || before >= size {
		t.Fatalf("ddrescue -s left %d finished bytes", before)
	}
	f, err := os.OpenFile(outPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	src := &faulty{data: data}
	if err := Rescue(context.Background(), src, size, f, m, RescueOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var read int64
	for _, r := range src.reads {
		read += r.hi - r.lo
	}
	if read != size-before {
		t.Errorf("read %d bytes after ddrescue's %d; want %d", read, before, size-before)
	}
	got, _ := os.ReadFile(outPath)
	if !bytes.Equal(got, data) {
		t.Fatal("output differs from source")
	}

	// The other direction: our partial map, finished by ddrescue.
	os.Remove(outPath)
	ourMap := filepath.Join(dir, "o.map")
	f, _ = os.Create(outPath)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = Rescue(ctx, &faulty{data: data}, size, f, ddmap.New(size), RescueOptions{
		ClusterSize:      256 << 10,
		ProgressInterval: -1,
		SaveMap:          func(m *ddmap.Map) error { return m.Save(ourMap) },
		Progress: func(RescueProgress) {
			if n++; n == 5 {
				cancel()
			}
		},
	})
	cancel()
	f.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("partial run: %v", err)
	}
	if out, err := exec.Command("ddrescue", srcPath, outPath, ourMap).CombinedOutput(); err != nil {
		t.Fatalf("ddrescue resuming our map: %v\n%s", err, out)
	}
	got, _ = os.ReadFile(outPath)
	if !bytes.Equal(got, data) {
		t.Fatal("ddrescue-finished output differs from source")
	}
	final, err := ddmap.Load(ourMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Blocks) != 1 || final.Blocks[0].Status != ddmap.Finished {
		t.Errorf("ddrescue's final map: %+v", final.Blocks)
	}
}
