package zsync

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeControl runs the real zsyncmake on data and returns its control
// file.
func makeControl(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	isotest.RequireTool(t, "zsyncmake")
	dir := t.TempDir()
	in := filepath.Join(dir, "file.iso")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "file.iso.zsync")
	isotest.Run(t, "zsyncmake", append(args, "-u", "file.iso", "-o", out, in)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memTarget is a Target over a slice of whole blocks.
type memTarget []byte

func (m memTarget) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

// scan finds c's blocks in seed and returns the reconstructed file (blocks
// not found are zero) and the matcher.
func scan(t *testing.T, c *Control, seed []byte) ([]byte, *Matcher) {
	t.Helper()
	m := c.NewMatcher()
	out := make(memTarget, c.Blocks()*c.BlockSize)
	if _, err := m.Scan(bytes.NewReader(seed), out, nil); err != nil {
		t.Fatal(err)
	}
	return out[:c.Length], m
}

// TestParseZsyncmake reads control files the real zsyncmake wrote, with
// each block size and the hash lengths it picks for small and large
// files, and checks every block's checksums against the data.
func TestParseZsyncmake(t *testing.T) {
	for _, tc := range []struct {
		size int
		args []string
	}{
		{1000, nil}, {300000, []string{"-b", "2048"}}, {3<<20 + 17, []string{"-b", "4096"}}, {2 << 20, []string{"-b", "1024"}},
	} {
		data := random(tc.size, uint64(tc.size))
		c, err := Parse(makeControl(t, data, tc.args...))
		if err != nil {
			t.Fatalf("%d bytes: %v", tc.size, err)
		}
		sum := sha1.Sum(data)
		if c.Length != int64(tc.size) || c.HashName != "SHA-1" || !bytes.Equal(c.FileHash, sum[:]) || c.URLs[0] != "file.iso" || c.Filename != "file.iso" {
			t.Errorf("%d bytes: parsed %+v", tc.size, c)
		}
		for i := range c.Blocks() {
			lo := i * c.BlockSize
			if !c.CheckBlock(i, data[lo:min(lo+c.BlockSize, len(data))]) {
				t.Fatalf("%d bytes (%d,%d,%d): block %d does not check", tc.size, c.SeqMatches, c.RsumBytes, c.ChecksumBytes, i)
			}
		}
		if c.Blocks() > 1 && c.CheckBlock(1, data[:c.BlockSize]) {
			t.Errorf("%d bytes: block 0's data checks as block 1", tc.size)
		}
		t.Logf("%d bytes: blocksize %d, hash lengths %d,%d,%d", tc.size, c.BlockSize, c.SeqMatches, c.RsumBytes, c.ChecksumBytes)
	}
}

// TestScan finds the blocks of a file in damaged, shifted and older
// copies of it: what is found is the file's own data, and what is missing
// is where the copies differ.
func TestScan(t *testing.T) {
	data := random(4<<20+1234, 1)
	ctl := makeControl(t, data, "-b", "2048")
	c, err := Parse(ctl)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, seed []byte, maxMissing int) {
		t.Helper()
		got, m := scan(t, c, seed)
		missing := 0
		for i := range c.Blocks() {
			lo, hi := i*c.BlockSize, min((i+1)*c.BlockSize, len(data))
			if !m.Have(i) {
				missing++
				continue
			}
			if !bytes.Equal(got[lo:hi], data[lo:hi]) {
				t.Fatalf("%s: block %d found with wrong data", name, i)
			}
		}
		t.Logf("%s: %d of %d blocks missing", name, missing, c.Blocks())
		if missing > maxMissing {
			t.Errorf("%s: %d blocks missing, want at most %d", name, missing, maxMissing)
		}
		var ranges int
		for _, r := range m.Missing() {
			ranges += r.End - r.First
		}
		if ranges != missing {
			t.Errorf("%s: Missing lists %d blocks, %d are not had", name, ranges, missing)
		}
	}
	check("identical", data, 0)
	// Three flipped regions: only the blocks they touch are missing.
	flipped := bytes.Clone(data)
	touched := map[int]bool{}
	for _, off := range []int{100_000, 2_000_123, 3_999_000} {
		for i := range 3000 {
			flipped[off+i] ^= 0x5a
			touched[(off+i)/c.BlockSize] = true
		}
	}
	check("3 flipped regions", flipped, len(touched))
	// Content shifted by an insertion and cut at the end.
	shifted := append(append(random(777, 9), data[:2<<20]...), data[2<<20+5000:]...)
	check("shifted", shifted, 5000/2048+6)
	// An unrelated seed gives nothing.
	_, m := scan(t, c, random(1<<20, 99))
	if m.Got() != 0 {
		t.Errorf("random seed: %d blocks found", m.Got())
	}
}

// TestMany: a file of many identical blocks (zeros, as images have) is
// found from one copy of the block, without looking at each block at
// each offset.
func TestMany(t *testing.T) {
	data := make([]byte, 8<<20)
	copy(data[1<<20:], random(4096, 5))
	c, err := Parse(makeControl(t, data, "-b", "2048"))
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 64<<10)
	copy(seed[10:], random(4096, 5))
	_, m := scan(t, c, seed)
	if m.Got() < c.Blocks()-2 {
		t.Errorf("%d of %d blocks found in a seed with a zero block and the odd ones", m.Got(), c.Blocks())
	}
}

// TestHostileControl: malformed or lying control files are refused with
// ErrFormat before anything is sized by their claims.
func TestHostileControl(t *testing.T) {
	good := makeControl(t, random(10000, 2), "-b", "2048")
	head, body, _ := bytes.Cut(good, []byte("\n\n"))
	mk := func(h string, b []byte) []byte { return append([]byte(h+"\n\n"), b...) }
	replace := func(old, new string) []byte { return mk(strings.Replace(string(head), old, new, 1), body) }
	for name, in := range map[string][]byte{
		"empty":             nil,
		"not zsync":         []byte("hello: world\n\n"),
		"0.0.4":             []byte("zsync: 0.0.4\n\n"),
		"no blank line":     head,
		"truncated table":   mk(string(head), body[:len(body)-1]),
		"longer table":      mk(string(head), append(bytes.Clone(body), 0)),
		"huge length":       replace("Length: 10000", "Length: 1125899906842623"),
		"zero length":       replace("Length: 10000", "Length: 0"),
		"negative length":   replace("Length: 10000", "Length: -5"),
		"odd blocksize":     replace("Blocksize: 2048", "Blocksize: 3000"),
		"tiny blocksize":    replace("Blocksize: 2048", "Blocksize: 1"),
		"huge blocksize":    replace("Blocksize: 2048", "Blocksize: 1073741824"),
		"hash lengths":      replace("Hash-Lengths: ", "Hash-Lengths: 9,"),
		"bad sha1":          replace("SHA-1: ", "SHA-1: zz"),
		"unknown header":    mk(string(head)+"\nX-Evil: 1", body),
		"z-map2 too long":   mk(string(head)+"\nZ-Map2: 999999999", body),
		"long line":         mk("zsync: 0.6.2\n"+strings.Repeat("A", MaxLine+10), nil),
		"many lines":        mk("zsync: 0.6.2"+strings.Repeat("\nSafe: x", MaxHeaderLines+1), nil),
		"compressed only":   mk(strings.Replace(string(head), "URL: file.iso", "Z-URL: file.iso.gz", 1), body),
		"no length at all":  mk("zsync: 0.6.2\nBlocksize: 2048", nil),
		"mtime":             replace("MTime: ", "MTime: yesterday "),
		"missing separator": mk("zsync: 0.6.2\nBlocksize2048", nil),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	if _, err := Parse(good); err != nil {
		t.Fatalf("the good control file: %v", err)
	}
}

// FuzzParse: any control file parses or is refused; a parsed one scans a
// seed without trouble.
func FuzzParse(f *testing.F) {
	f.Add(makeControl(f, random(5000, 4), "-b", "2048"))
	f.Add(makeControl(f, random(70000, 5), "-b", "1024"))
	f.Add([]byte("zsync: 0.6.2\nBlocksize: 128\nLength: 1\nHash-Lengths: 1,1,3\n\n\x00\x00\x00\x00"))
	seed := random(4096, 6)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		if c.Blocks() <= 0 || int64(c.Blocks())*int64(c.RsumBytes+c.ChecksumBytes) > int64(len(b)) {
			t.Fatalf("%d blocks from a %d-byte file", c.Blocks(), len(b))
		}
		if c.Blocks() > 1<<16 {
			return // the scan below would take long, not fail
		}
		m := c.NewMatcher()
		out := make(memTarget, c.Blocks()*c.BlockSize)
		if _, err := m.Scan(bytes.NewReader(seed), out, nil); err != nil {
			t.Fatal(err)
		}
		_ = fmt.Sprint(m.Missing())
	})
}

// BenchmarkScan measures how fast a seed is searched (MB/s of seed) when
// almost every block is found, and when almost none is.
func BenchmarkScan(b *testing.B) {
	data := random(64<<20, 8)
	c, err := Parse(makeControl(b, data, "-b", "2048"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		seed []byte
	}{{"same", data}, {"unrelated", random(64<<20, 9)}} {
		b.Run(tc.name, func(b *testing.B) {
			out := make(memTarget, c.Blocks()*c.BlockSize)
			b.SetBytes(int64(len(tc.seed)))
			for b.Loop() {
				m := c.NewMatcher()
				if _, err := m.Scan(bytes.NewReader(tc.seed), out, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
