//go:build linux

package writer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/internal/diskio"
)

// faultySink flips one byte on its way to the medium, like a flaky
// controller or a fake-capacity stick would.
type faultySink struct {
	sink
	at int64
}

func (f faultySink) WriteAt(p []byte, off int64) (int, error) {
	if f.at >= off && f.at < off+int64(len(p)) {
		q := diskio.AlignedBuffer(len(p))
		copy(q, p)
		q[f.at-off] ^= 0x40
		return f.sink.WriteAt(q, off)
	}
	return f.sink.WriteAt(p, off)
}

func TestVerifyFailure(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, data := randomImage(t, dir, 9<<20+300, 9)
	gz := compressWith(t, "gzip", img)
	const bad = 5<<20 + 4096*3 + 1234
	for _, tc := range []struct {
		name    string
		src     string
		corrupt string // "hook": change the medium after writing; "sink": a faulty writer
		want    int64
	}{
		{"medium changed, seekable source: exact byte", img, "hook", bad},
		{"faulty writer, seekable source: exact byte", img, "sink", bad},
		{"medium changed, stream source: 4 KiB block", gz, "hook", bad / checkBlock * checkBlock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, goodBack := newLoop(t, dir, 16<<20)
			dev, back := newLoop(t, dir, 16<<20)
			h := &testHooks{}
			switch tc.corrupt {
			case "hook":
				h.beforeVerify = func(path string) error {
					if path != dev {
						return nil
					}
					// Change the medium behind the writer's back: the
					// loop device reads its backing file.
					f, err := os.OpenFile(back, os.O_RDWR, 0)
					if err != nil {
						return err
					}
					defer f.Close()
					_, err = f.WriteAt([]byte{data[bad] ^ 0xff}, bad)
					return err
				}
			case "sink":
				h.wrapSink = func(path string, s sink) sink {
					if path != dev {
						return s
					}
					return faultySink{s, bad}
				}
			}
			rep := writeAll(t, tc.src, []string{good, dev}, Options{Policy: Policy{AllowLoop: true}, hooks: h})
			if r := rep.Results[0]; r.Err != nil || !r.Verified {
				t.Errorf("healthy target %s: %v", r.Target, r.Err)
			}
			sameBytes(t, good, readBack(t, goodBack, len(data)), data)
			r := rep.Results[1]
			if !errors.Is(r.Err, ErrVerify) || r.Verified {
				t.Fatalf("corrupted target: err=%v verified=%v", r.Err, r.Verified)
			}
			if r.BadOffset != tc.want || !strings.Contains(r.Err.Error(), "byte "+strconv.FormatInt(tc.want, 10)) {
				t.Errorf("bad offset %d (%v), want %d", r.BadOffset, r.Err, tc.want)
			}
			if rep.Failed() != 1 {
				t.Errorf("Failed() = %d, want 1", rep.Failed())
			}
		})
	}
}

// TestSourceShrinks truncates the source file while it is being written:
// the targets must fail, not "verify" a shortened image.
func TestSourceShrinks(t *testing.T) {
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 64<<20, 14)
	var once bool
	h := &testHooks{wrapSink: func(path string, s sink) sink {
		return hookSink{s, func() {
			if !once {
				once = true
				if err := os.Truncate(img, 1<<20); err != nil {
					t.Error(err)
				}
			}
		}}
	}}
	p, err := Prepare(img, []string{filepath.Join(dir, "out.img")}, Options{ToFile: true, hooks: h})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "did it change while being written") {
		t.Errorf("err = %v", r.Err)
	}
}

// hookSink calls before ahead of every write.
type hookSink struct {
	sink
	before func()
}

func (h hookSink) WriteAt(p []byte, off int64) (int, error) {
	h.before()
	return h.sink.WriteAt(p, off)
}
