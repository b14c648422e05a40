//go:build linux

package writer

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// fillFile overwrites path with b repeated: the bytes past the image must
// survive the write (the last partial block is read, modified, written).
func fillFile(t testing.TB, path string, b byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte{b}, int(fi.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteLoopDevices(t *testing.T) {
	requireLoop(t)
	for _, tc := range []struct {
		name      string
		targets   int
		imageSize int
		bs        int
		losetup   []string
	}{
		{"one target, whole blocks", 1, 24 << 20, 0, nil},
		{"one target, odd tail", 1, 10<<20 + 1234, 0, nil},
		{"4 KiB sectors, odd tail", 1, 5<<20 + 4096 + 1000, 0, []string{"-b", "4096"}},
		{"three targets, odd tail", 3, 9<<20 + 2048 + 77, 1 << 20, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img, data := randomImage(t, dir, tc.imageSize, uint64(tc.imageSize))
			var devs, backs []string
			for i := 0; i < tc.targets; i++ {
				d, b := newLoop(t, dir, 32<<20, tc.losetup...)
				devs, backs = append(devs, d), append(backs, b)
			}
			if tc.losetup != nil {
				if d, err := LookupDevice(devs[0], nil); err != nil || d.LogicalBlockSize != 4096 {
					t.Fatalf("%s: block size not 4096: %+v %v", devs[0], d, err)
				}
			}
			// Pre-fill after attaching: the loop device reads its backing file.
			for _, b := range backs {
				fillFile(t, b, 0xAA)
			}
			var mu sync.Mutex
			last := map[string]Progress{}
			rep := writeAll(t, img, devs, Options{
				Policy:    Policy{AllowLoop: true},
				BlockSize: tc.bs,
				Progress: func(p Progress) {
					mu.Lock()
					defer mu.Unlock()
					if prev, ok := last[p.Target]; ok && p.Phase == prev.Phase && p.Done < prev.Done {
						t.Errorf("%s: progress went back from %d to %d", p.Target, prev.Done, p.Done)
					}
					last[p.Target] = p
				},
			})
			if rep.Size != int64(tc.imageSize) {
				t.Errorf("report size %d, want %d", rep.Size, tc.imageSize)
			}
			for i, res := range rep.Results {
				if res.Err != nil || !res.Verified || res.BadOffset != -1 {
					t.Fatalf("%s: err=%v verified=%v bad=%d", res.Target, res.Err, res.Verified, res.BadOffset)
				}
				if !res.Direct {
					t.Errorf("%s: expected O_DIRECT on a loop device", res.Target)
				}
				got := readBack(t, backs[i], tc.imageSize+8192)
				sameBytes(t, res.Target, got[:tc.imageSize], data)
				if rest := got[tc.imageSize:]; !bytes.Equal(rest, bytes.Repeat([]byte{0xAA}, len(rest))) {
					t.Errorf("%s: bytes after the image were changed", res.Target)
				}
			}
			for _, d := range devs {
				if p := last[d]; p.Phase != PhaseDone || p.Done != int64(tc.imageSize) {
					t.Errorf("%s: last progress %+v, want done at %d", d, p, tc.imageSize)
				}
			}
		})
	}
}
