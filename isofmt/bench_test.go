package isofmt_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

var (
	bigOnce sync.Once
	bigPath string
)

// hundredKImage builds (once per run) the benchmark image of the issue:
// 100 000 files of 0-3 KB in 500 directories, Rock Ridge + Joliet.
func hundredKImage(b *testing.B) string {
	b.Helper()
	isotest.RequireTool(b, "xorriso")
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "isofmt-bench-")
		if err != nil {
			b.Fatal(err)
		}
		src := filepath.Join(dir, "src")
		rng := rand.New(rand.NewPCG(1, 1))
		buf := make([]byte, 3072)
		for i := range buf {
			buf[i] = byte(rng.UintN(256))
		}
		for d := 0; d < 500; d++ {
			sub := filepath.Join(src, fmt.Sprintf("dir%03d", d))
			os.MkdirAll(sub, 0o755)
			for f := 0; f < 200; f++ {
				os.WriteFile(filepath.Join(sub, fmt.Sprintf("file%03d.dat", f)), buf[:rng.IntN(3072)], 0o644)
			}
		}
		bigPath = filepath.Join(dir, "100k.iso")
		isotest.Run(b, "xorriso", "-outdev", bigPath, "-joliet", "on", "-map", src, "/")
		os.RemoveAll(src)
	})
	if bigPath == "" {
		b.Fatal("building the 100k-file image failed")
	}
	return bigPath
}

// BenchmarkOpen measures Open: it reads only the descriptors, so its cost
// does not depend on the image size.
func BenchmarkOpen(b *testing.B) {
	path := hundredKImage(b)
	for b.Loop() {
		img, err := isofmt.OpenFile(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		img.Close()
	}
}

// BenchmarkWalk100k measures a full metadata walk (every entry's FileInfo)
// of the 100 000-file image, from a fresh Open each time.
func BenchmarkWalk100k(b *testing.B) {
	path := hundredKImage(b)
	for b.Loop() {
		img, err := isofmt.OpenFile(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		fs.WalkDir(img, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.Info(); err != nil {
				b.Fatal(err)
			}
			n++
			return nil
		})
		img.Close()
		if n != 100501 {
			b.Fatalf("walked %d entries, want 100501", n)
		}
	}
}

// BenchmarkReadDirNodes100k parses every directory of the 100k-file image
// the way the mount does (ReadDirNode, no sorting, no fs.DirEntry): the
// daemon-side cost of a first `find` over the mount.
func BenchmarkReadDirNodes100k(b *testing.B) {
	path := hundredKImage(b)
	b.ReportAllocs()
	for b.Loop() {
		img, err := isofmt.OpenFile(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		root, _ := img.Root()
		n := 0
		var walk func(d *isofmt.Node)
		walk = func(d *isofmt.Node) {
			kids, err := img.ReadDirNode(d)
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range kids {
				n++
				if k.IsDir() {
					walk(k)
				}
			}
		}
		walk(root)
		img.Close()
		if n != 100500 {
			b.Fatalf("walked %d entries, want 100500", n)
		}
	}
}
