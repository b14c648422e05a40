package fatfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"testing"
	"unicode/utf8"
)

// Fuzz inputs describe a volume sparsely, so that seeds made from real
// volumes (tens of MiB, mostly zeros) stay small: an 8-byte volume size,
// then records of a 4-byte offset, a 2-byte length and that many bytes.
// Everything not covered reads as zeros.

// maxFuzzVolume caps the volume a fuzz input may describe.
const maxFuzzVolume = 64 << 20

type sparse struct {
	size int64
	recs []sparseRec
}

type sparseRec struct {
	off  int64
	data []byte
}

func decodeSparse(b []byte) *sparse {
	s := &sparse{}
	if len(b) < 8 {
		return s
	}
	s.size = min(int64(binary.LittleEndian.Uint64(b)&(1<<40-1)), maxFuzzVolume)
	b = b[8:]
	for len(b) >= 6 {
		off := int64(binary.LittleEndian.Uint32(b))
		n := int(binary.LittleEndian.Uint16(b[4:]))
		b = b[6:]
		n = min(n, len(b))
		s.recs = append(s.recs, sparseRec{off, b[:n]})
		b = b[n:]
	}
	return s
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for _, r := range s.recs {
		lo, hi := max(off, r.off), min(off+int64(n), r.off+int64(len(r.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], r.data[lo-r.off:hi-r.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// encodeSparse turns a real volume into a fuzz input: its non-zero runs.
func encodeSparse(img []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(img)))
	for i := 0; i < len(img); {
		if img[i] == 0 {
			i++
			continue
		}
		j := i
		// Extend over short zero gaps so that records stay few.
		for j < len(img) && j-i < 0xffff {
			if img[j] != 0 {
				j++
				continue
			}
			k := j
			for k < len(img) && img[k] == 0 && k-j < 16 {
				k++
			}
			if k == len(img) || img[k] == 0 {
				break
			}
			j = k
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i))
		out = binary.LittleEndian.AppendUint16(out, uint16(j-i))
		out = append(out, img[i:j]...)
		i = j
	}
	return out
}

func addFATSeeds(f *testing.F) {
	for _, n := range []string{"fat12", "fat16", "fat32"} {
		f.Add(encodeSparse(sampleImage(f, n)))
	}
}

// FuzzFS opens a volume and does everything a verifier and an undelete
// tool would: label, walk with deleted entries, read every file (capped),
// the allocation bitmap and its free runs of small volumes, and the
// recovery walk into deleted directories.
func FuzzFS(f *testing.F) {
	addFATSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeSparse(data)
		v, err := Open(s, s.size)
		if err != nil {
			return
		}
		v.Label()
		var budget int64 = 8 << 20
		var walk func(dir string, depth int)
		walk = func(dir string, depth int) {
			if depth > 8 {
				return
			}
			ents, err := v.ReadDirEntries(dir, true)
			if err != nil {
				return
			}
			for i := range ents {
				e := &ents[i]
				if !utf8.ValidString(e.Name) {
					t.Fatalf("invalid UTF-8 name %q", e.Name)
				}
				if e.Deleted {
					continue
				}
				p := e.Name
				if dir != "." {
					p = dir + "/" + e.Name
				}
				if !fs.ValidPath(p) {
					continue
				}
				if e.IsDir() {
					walk(p, depth+1)
					continue
				}
				r, err := v.OpenEntry(e)
				if err != nil {
					continue
				}
				n := min(r.Size(), budget, 1<<20)
				budget -= n
				buf := make([]byte, n)
				r.ReadAt(buf, 0)
			}
		}
		walk(".", 0)
		if v.Clusters > 1<<20 {
			return
		}
		bm, err := v.Allocation()
		if err != nil {
			return
		}
		if bm.Free() > int64(v.Clusters) {
			t.Fatalf("%d free of %d clusters", bm.Free(), v.Clusters)
		}
		runs, complete := bm.FreeRuns(1 << 16)
		var free int64
		for i, r := range runs {
			if r.Count == 0 || !v.validCluster(r.First) || !v.validCluster(r.First+r.Count-1) ||
				i > 0 && r.First <= runs[i-1].First+runs[i-1].Count {
				t.Fatalf("free run %d %+v of %d clusters (previous %+v)", i, r, v.Clusters, runs[max(i-1, 0)])
			}
			for c := r.First; c < r.First+r.Count; c++ {
				if bm.Allocated(c) {
					t.Fatalf("free run %+v holds allocated cluster %d", r, c)
				}
			}
			free += int64(r.Count)
		}
		if complete && free != bm.Free() {
			t.Fatalf("free runs hold %d clusters, the bitmap %d", free, bm.Free())
		}
		// The recovery walk, deleted directories continued over the next
		// free cluster: no entry may be read twice.
		next := func(c uint32) (uint32, bool) {
			for c++; v.validCluster(c); c++ {
				if !bm.Allocated(c) {
					return c, true
				}
			}
			return 0, false
		}
		seen := map[int64]bool{}
		v.Walk(WalkOptions{Deleted: true, NextDeleted: next}, func(d *Directory) error {
			for _, e := range d.Entries {
				if seen[e.Offset] {
					t.Fatalf("entry at byte %d read twice (directory %q)", e.Offset, d.Path)
				}
				seen[e.Offset] = true
			}
			return nil
		})
	})
}

// FuzzBootSector parses arbitrary boot sectors against arbitrary sizes.
func FuzzBootSector(f *testing.F) {
	for _, n := range []string{"fat12", "fat16", "fat32"} {
		img := sampleImage(f, n)
		f.Add(img[:512], int64(len(img)))
	}
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		g, err := ParseBootSector(b, size)
		if err != nil {
			return
		}
		if g.DataOffset > size || g.Clusters == 0 || g.ClusterSize <= 0 {
			t.Fatalf("accepted geometry %+v for %d bytes", g, size)
		}
	})
}

// FuzzDir decodes arbitrary directory bytes, deleted entries included.
func FuzzDir(f *testing.F) {
	for _, n := range []string{"fat12", "fat32"} {
		img := sampleImage(f, n)
		v, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			f.Fatal(err)
		}
		ents, err := v.ReadDirEntries(".", true)
		if err != nil || len(ents) == 0 {
			f.Fatal(err)
		}
		start := ents[0].Offset &^ 511
		f.Add(img[start : start+1024])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		plausibleDir(raw)
		ents, _ := parseDir(raw, func(i int) int64 { return int64(i) }, true)
		if len(ents) > len(raw)/32 {
			t.Fatalf("%d entries from %d bytes", len(ents), len(raw))
		}
		for _, e := range ents {
			if !utf8.ValidString(e.Name) || !utf8.ValidString(e.ShortName) {
				t.Fatalf("invalid UTF-8: %q %q", e.Name, e.ShortName)
			}
		}
	})
}

// TestSparseSeeds: the fuzz encoding of each sample reads as the sample.
func TestSparseSeeds(t *testing.T) {
	for _, n := range []string{"fat12", "fat16", "fat32"} {
		img := sampleImage(t, n)
		enc := encodeSparse(img)
		if len(enc) > 200<<10 {
			t.Errorf("%s: seed of %d bytes", n, len(enc))
		}
		s := decodeSparse(enc)
		got := make([]byte, len(img))
		if _, err := s.ReadAt(got, 0); err != nil || !bytes.Equal(got, img) {
			t.Errorf("%s: sparse round trip differs (%v)", n, err)
		}
	}
}
