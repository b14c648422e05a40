//go:build linux

package writer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// compressWith compresses path with the command-line tool (an independent
// producer of each format) and returns the new file.
func compressWith(t testing.TB, tool, path string) string {
	t.Helper()
	isotest.RequireTool(t, tool)
	ext := map[string]string{"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}[tool]
	out := path + ext
	args := []string{"-c", "-1", path}
	if tool == "xz" {
		args = []string{"-c", "-0", "-T2", path}
	}
	cmd := exec.Command(tool, args...)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v %s", tool, err, stderr.String())
	}
	f.Close()
	return out
}

// halfRandom is an image whose second half compresses well, so that the
// slow codecs stay quick while the size still crosses the inspection
// prefix (32 MiB), which exercises the replay of the buffered head.
func halfRandom(t testing.TB, dir string, size int) (string, []byte) {
	p, data := randomImage(t, dir, size, uint64(size))
	for i := size / 2; i < size; i++ {
		data[i] = byte(i / 4096)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func TestCompressedSources(t *testing.T) {
	dir := t.TempDir()
	img, data := halfRandom(t, dir, 34<<20+5)
	for _, tc := range []struct {
		tool string
		want Compression
	}{
		{"gzip", CompressionGzip},
		{"bzip2", CompressionBzip2},
		{"xz", CompressionXz},
		{"zstd", CompressionZstd},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			src := compressWith(t, tc.tool, img)
			defer os.Remove(src)
			// Content decides, not the name.
			renamed := filepath.Join(t.TempDir(), "image.iso")
			if err := os.Rename(src, renamed); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.img")
			var lastInput int64
			opts := Options{ToFile: true, Progress: func(p Progress) {
				if p.Phase == PhaseWrite {
					lastInput = p.InputDone
				}
			}}
			p, err := Prepare(renamed, []string{out}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Source.Compression != tc.want || p.Source.Size != -1 {
				t.Errorf("compression %q size %d, want %q and unknown size", p.Source.Compression, p.Source.Size, tc.want)
			}
			rep, err := p.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; r.Err != nil || !r.Verified || r.Written != int64(len(data)) {
				t.Fatalf("err=%v verified=%v written=%d", r.Err, r.Verified, r.Written)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sameBytes(t, "decompressed", got, data)
			fi, _ := os.Stat(renamed)
			if lastInput <= 0 || lastInput > fi.Size() {
				t.Errorf("input progress %d, compressed file has %d bytes", lastInput, fi.Size())
			}
		})
	}
}

// TestMisnamedSource: a ".gz" file that is not gzip is written as is.
func TestMisnamedSource(t *testing.T) {
	dir := t.TempDir()
	img, data := randomImage(t, dir, 3<<20+100, 6)
	gz := filepath.Join(dir, "image.iso.gz")
	if err := os.Rename(img, gz); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.img")
	p, err := Prepare(gz, []string{out}, Options{ToFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source.Compression != CompressionNone || len(p.Source.Warnings) != 1 {
		t.Errorf("compression %q warnings %q", p.Source.Compression, p.Source.Warnings)
	}
	if rep, err := p.Execute(context.Background()); err != nil || rep.Results[0].Err != nil {
		t.Fatal(err, rep.Results[0].Err)
	}
	got, _ := os.ReadFile(out)
	sameBytes(t, "out", got, data)
}

func TestStdinSource(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	_, data := randomImage(t, dir, 7<<20+512+3, 7)
	dev, back := newLoop(t, dir, 16<<20)
	out := filepath.Join(dir, "out.img")
	// A pipe, as in `xzcat x.xz | isofsd write - /dev/sdX`.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.Write(data)
		pw.Close()
	}()
	rep := writeAll(t, "-", []string{dev, out}, Options{Stdin: pr, ToFile: true, Policy: Policy{AllowLoop: true}})
	for _, r := range rep.Results {
		if r.Err != nil || !r.Verified {
			t.Fatalf("%s: %v", r.Target, r.Err)
		}
	}
	sameBytes(t, dev, readBack(t, back, len(data)), data)
	got, _ := os.ReadFile(out)
	sameBytes(t, out, got, data)
}

func TestFileTargets(t *testing.T) {
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 8)
	missing := filepath.Join(dir, "new.img")
	if _, err := Prepare(img, []string{missing}, Options{}); err == nil {
		t.Error("a missing target was accepted without --to-file")
	}
	p, err := Prepare(img, []string{img}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(p.Targets[0].Problems, ProblemSource) || !errors.Is(p.Err(), ErrRefused) {
		t.Errorf("writing the source onto itself was accepted: %+v", p.Targets[0])
	}
	p.Close()
	if _, err := Prepare(img, []string{missing, filepath.Join(dir, ".", "new.img")}, Options{ToFile: true}); err == nil {
		t.Error("the same target twice was accepted")
	}
	if _, err := Prepare(img, []string{dir}, Options{}); err == nil {
		t.Error("a directory target was accepted")
	}
}
