//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// benchFixture builds a many-small-files image (the shape of the
// project's 100 000-file target, scaled down) in b's temp dir, or takes
// $ISOFSD_BENCH_IMAGE (e.g. the 100 000-file image `isofsd bench
// --workdir` keeps) with its file count in $ISOFSD_BENCH_FILES.
func benchFixture(b *testing.B, files, dirs int) string {
	b.Helper()
	if p := os.Getenv("ISOFSD_BENCH_IMAGE"); p != "" {
		return p
	}
	isotest.RequireTool(b, "xorriso")
	dir := b.TempDir()
	iso := filepath.Join(dir, "small.iso")
	if err := buildSmallImage(dir, iso, files, dirs); err != nil {
		b.Fatal(err)
	}
	return iso
}

func BenchmarkOpen(b *testing.B) {
	iso := benchFixture(b, 2000, 20)
	b.ResetTimer()
	for b.Loop() {
		img, err := isofmt.OpenFile(iso, nil)
		if err != nil {
			b.Fatal(err)
		}
		img.Close()
	}
}

// BenchmarkWalk reads all metadata of a 10 000-file image from a fresh
// open each time (no directory cache carried over).
func BenchmarkWalk(b *testing.B) {
	iso := benchFixture(b, 10000, 50)
	want := 10000
	if n, err := strconv.Atoi(os.Getenv("ISOFSD_BENCH_FILES")); err == nil {
		want = n
	}
	b.ResetTimer()
	for b.Loop() {
		n, _, err := benchWalk(iso)
		if err != nil || n != want {
			b.Fatalf("walk: %d files, want %d, %v", n, want, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/file")
}

// BenchmarkExtract extracts a 10 000-file image to tmpfs (or $TMPDIR when
// /dev/shm is missing).
func BenchmarkExtract(b *testing.B) {
	iso := benchFixture(b, 10000, 50)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	base := "/dev/shm"
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	var bytesOut int64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		out, err := os.MkdirTemp(base, "isofsd-gobench-")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := extract.Run(context.Background(), img, out, extract.Options{Workers: 2, Metadata: extract.DefaultMetadata()})
		if err != nil || res.Failed != 0 {
			b.Fatalf("%v %+v", err, res)
		}
		bytesOut = res.Bytes
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.SetBytes(bytesOut)
}

// TestBenchCommand runs `isofsd bench` on small generated images and
// checks the table names every measurement and tool.
func TestBenchCommand(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	if testing.Short() {
		t.Skip("builds images")
	}
	// The isofsd row runs a real isofsd binary, not this test binary.
	bin := isofsdBinary(t)
	var out, errw bytes.Buffer
	f := benchFlags{workdir: t.TempDir(), outdir: t.TempDir(), files: 300, dirs: 6, bigSize: 8 << 20, runs: 1,
		tools: "isofsd,cat", self: bin}
	if err := runBench(&out, &errw, f); err != nil {
		t.Fatalf("%v\n%s", err, errw.String())
	}
	s := out.String()
	for _, want := range []string{"open", "metadata walk", "extract: cat", "extract: isofsd", "small files: 300 files", "big files: 3 files, 8.4 MB",
		"target open <= 10 ms", "target extract <= 1.1 x cat"} {
		if !strings.Contains(s, want) {
			t.Errorf("bench output lacks %q:\n%s", want, s)
		}
	}
}
