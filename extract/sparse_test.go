package extract

import (
	"math/rand/v2"
	"testing"
)

// discardFile is an outFile that keeps nothing: the benchmarks below
// time what writeSparse adds to a write, not the file system.
type discardFile struct{ writes int }

func (f *discardFile) WriteAt(b []byte, off int64) (int, error) { f.writes++; return len(b), nil }
func (f *discardFile) truncate(int64) error                     { return nil }
func (f *discardFile) setMeta(meta) error                       { return nil }
func (f *discardFile) id() (fileID, error)                      { return nil, nil }
func (f *discardFile) lockTemp()                                {}
func (f *discardFile) close() error                             { return nil }

// TestWriteSparse: writeSparse writes everything but runs of at least
// holeMin zero bytes in whole holeAlign blocks of the file.
func TestWriteSparse(t *testing.T) {
	type w struct{ off, n int64 }
	cases := []struct {
		name  string
		off   int64
		zeros [][2]int // zero runs [from, to) in the buffer
		size  int
		want  []w
		holes bool
	}{
		{"data", 0, nil, 1 << 20, []w{{0, 1 << 20}}, false},
		{"short run", 0, [][2]int{{4096, 4096 + holeMin - holeAlign}}, 1 << 20, []w{{0, 1 << 20}}, false},
		{"one run", 0, [][2]int{{8192, 8192 + holeMin}}, 1 << 20, []w{{0, 8192}, {8192 + holeMin, 1<<20 - 8192 - holeMin}}, true},
		// A run not on block boundaries keeps its partial blocks.
		{"unaligned", 0, [][2]int{{100, 100 + holeMin + holeAlign}}, 1 << 20, []w{{0, 4096}, {4096 + holeMin, 1<<20 - 4096 - holeMin}}, true},
		// Alignment is the file's, not the buffer's.
		{"file offset", 1000, [][2]int{{0, holeMin + 2*holeAlign}}, 1 << 20, []w{{1000, 3096}, {1000 + 3096 + holeMin + holeAlign, 1<<20 - 3096 - holeMin - holeAlign}}, true},
		{"all zeros", 0, [][2]int{{0, 1 << 20}}, 1 << 20, nil, true},
		{"small write", 0, [][2]int{{0, holeMin - 1}}, holeMin - 1, []w{{0, holeMin - 1}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := make([]byte, c.size)
			for i := range b {
				b[i] = byte(i%251) + 1
			}
			for _, z := range c.zeros {
				clear(b[z[0]:z[1]])
			}
			rec := &recordFile{}
			holes, err := writeSparse(rec, b, c.off)
			if err != nil || holes != c.holes {
				t.Fatalf("holes %v err %v, want holes %v", holes, err, c.holes)
			}
			if len(rec.w) != len(c.want) {
				t.Fatalf("writes %v, want %v", rec.w, c.want)
			}
			for i := range c.want {
				if rec.w[i] != [2]int64{c.want[i].off, c.want[i].n} {
					t.Errorf("write %d: %v, want %v", i, rec.w[i], c.want[i])
				}
			}
		})
	}
}

type recordFile struct {
	discardFile
	w [][2]int64
}

func (f *recordFile) WriteAt(b []byte, off int64) (int, error) {
	f.w = append(f.w, [2]int64{off, int64(len(b))})
	return len(b), nil
}

// BenchmarkWriteSparse times writeSparse on 1 MiB of data without zero
// runs (what installer images hold): the cost of looking for holes,
// beside a plain write of the same buffer.
func BenchmarkWriteSparse(b *testing.B) {
	buf := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{1}).Read(buf)
	f := &discardFile{}
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			f.WriteAt(buf, 0)
		}
	})
	b.Run("sparse", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			writeSparse(f, buf, 0)
		}
	})
	b.Run("text", func(b *testing.B) {
		// Data whose blocks start with zeros: the comparison goes
		// further before it stops.
		t := make([]byte, len(buf))
		for i := range t {
			if i%holeAlign >= 512 {
				t[i] = 'x'
			}
		}
		b.SetBytes(int64(len(t)))
		for b.Loop() {
			writeSparse(f, t, 0)
		}
	})
}
