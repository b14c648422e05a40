//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnusableInputs gives every subcommand that reads an image or a
// source things that are none: a FIFO (which blocked every subcommand
// forever), a directory (carve --scan-only never ended, rescue said "file
// too large", info called it a corrupt image), /dev/zero (write grew its
// output without limit) and a missing path (carve did not name it). Each
// must end in bounded time with exit 2 and one line naming the path
// (issues 16.10, 21 §2.3).
func TestUnusableInputs(t *testing.T) {
	bin := isofsdBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "image.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	adir := filepath.Join(dir, "a-directory")
	os.Mkdir(adir, 0o755)
	missing := filepath.Join(dir, "missing.iso")
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	// verify reads --sums and --keyring before the image: these two are
	// only ever reached as the unusable argument.
	someImage := filepath.Join(dir, "some.iso")
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(someImage, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sums, []byte(strings.Repeat("0", 64)+"  some.iso\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, in := range []string{fifo, adir, "/dev/zero", missing} {
		out := filepath.Join(dir, "out")
		os.RemoveAll(out)
		for _, args := range [][]string{
			{"info", in},
			{"info", "--json", in},
			{"ls", "-l", in},
			{"extract", in, "-C", out},
			{"verify", in},
			{"salvage", in, "-C", out},
			{"carve", in, "--scan-only"},
			{"carve", in, "-o", out},
			{"rescue", in, out + ".iso"},
			{"write", in, out + ".img", "--to-file", "--yes"},
			{"mount", "-f", "--standalone", in, mp},
			{"verify", "--sums", in, someImage},
			{"verify", "--sums", sums, "--keyring", in, someImage},
		} {
			name := strings.Join(args, " ")
			t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				cmd.Run()
				if ctx.Err() != nil {
					t.Fatalf("still running after a minute (killed)")
				}
				lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
				if code := cmd.ProcessState.ExitCode(); code != exitUsage {
					t.Errorf("exit %d, want %d\n%s%s", code, exitUsage, stdout.String(), stderr.String())
				}
				if len(lines) != 1 || !strings.Contains(lines[0], in) {
					t.Errorf("want one stderr line naming %s, got:\n%s", in, stderr.String())
				}
			})
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.img")); err == nil {
		t.Errorf("write created its output from an unusable source")
	}
}
