//go:build linux

package gofuse

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestSpliceSource: reads of a local image file are spliced from the
// image's descriptor (the source offers one), those of any other source
// (here bytes in memory) are copied; both serve the file's bytes.
func TestSpliceSource(t *testing.T) {
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 2<<20+1234)
	rnd := rand.New(rand.NewPCG(3, 1))
	for i := range want {
		want[i] = byte(rnd.Uint32())
	}
	if err := os.WriteFile(filepath.Join(src, "big"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(d, "t.iso")
	isotest.Run(t, "xorriso", "-outdev", iso, "-map", src, "/", "-commit")
	raw, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	byFile, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer byFile.Close()
	inMemory, err := isofmt.Open(bytes.NewReader(raw), int64(len(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		img     *isofmt.Image
		splices bool
	}{{"file", byFile, true}, {"memory", inMemory, false}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := isofs.New(tc.img, isofs.Options{ImagePath: iso})
			if err != nil {
				t.Fatal(err)
			}
			mp := filepath.Join(t.TempDir(), "mnt")
			if err := os.Mkdir(mp, 0o755); err != nil {
				t.Fatal(err)
			}
			srv, r, err := start(mp, fsys, Options{Source: iso, Splice: true})
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			defer func() {
				if err := srv.Unmount(); err != nil {
					t.Errorf("unmount: %v", err)
				}
				srv.Wait()
			}()
			got, err := os.ReadFile(filepath.Join(mp, "big"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read: %d bytes, %v; content ok %v", len(got), err, bytes.Equal(got, want))
			}
			if n := r.spliced.Load(); (n > 0) != tc.splices {
				t.Errorf("%d of %d reads spliced; want splices: %v", n, r.reads.Load(), tc.splices)
			}
			if fsys.BytesRead() < int64(len(want)) {
				t.Errorf("BytesRead %d after reading %d bytes", fsys.BytesRead(), len(want))
			}
		})
	}
}
