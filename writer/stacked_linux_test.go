//go:build linux

package writer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// stackLoop attaches a loop device on top of dev (a loop on a block
// device) and detaches it when the test ends.
func stackLoop(t *testing.T, dev string) string {
	t.Helper()
	top := run(t, "losetup", "-f", "--show", dev)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", top).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", top, err, out)
		}
	})
	return top
}

func problemsText(t *Target) string {
	var s []string
	for _, p := range t.Problems {
		s = append(s, string(p.Code)+": "+p.Detail)
	}
	return strings.Join(s, "\n")
}

// TestRefuseLoopStackedOnTarget: a loop device set up on the target and
// mounted is a file system living on the target. It registers no sysfs
// holder, and write wrote under the mounted ext4 (issue 16.8).
func TestRefuseLoopStackedOnTarget(t *testing.T) {
	requireLoop(t)
	isotest.RequireTool(t, "mkfs.ext4")
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 3)
	target, _ := newLoop(t, dir, 64<<20)
	top := stackLoop(t, target)

	// Attached but idle: nothing in use above the target.
	p, err := Prepare(img, []string{target}, Options{Policy: Policy{AllowLoop: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Errorf("idle loop on top: %v", err)
	}
	if d := p.Targets[0].Device; !strings.Contains(strings.Join(d.Holders, ","), filepath.Base(top)) {
		t.Errorf("holders %v do not name %s", d.Holders, top)
	}
	p.Close()

	// Held exclusively by a program (as a VM or LVM would).
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err = Prepare(img, []string{target}, Options{Policy: Policy{AllowLoop: true, Force: true}})
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(p.Targets[0].Problems, ProblemHeld) {
		t.Errorf("held stacked loop not refused:\n%s", problemsText(p.Targets[0]))
	}
	p.Close()

	// Mounted: refused, even with --force, and nothing is written.
	run(t, "mkfs.ext4", "-q", "-F", top)
	mp := mountAt(t, top)
	os.WriteFile(filepath.Join(mp, "precious"), []byte("keep me"), 0o644)
	before := readBack(t, target, 1<<20)
	p, err = Prepare(img, []string{target}, Options{Policy: Policy{AllowLoop: true, Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	tg := p.Targets[0]
	if !hasProblem(tg.Problems, ProblemMounted) || !strings.Contains(problemsText(tg), filepath.Base(top)+" (a loop device on "+filepath.Base(target)+") is mounted at "+mp) {
		t.Errorf("mounted stacked loop not refused, or not named:\n%s", problemsText(tg))
	}
	if _, err := p.Execute(context.Background()); !errors.Is(err, ErrRefused) {
		t.Errorf("Execute: %v, want ErrRefused", err)
	}
	if !bytes.Equal(readBack(t, target, 1<<20), before) {
		t.Error("the target was written under a mounted file system")
	}
}

// TestRefuseFileBackingMountedLoop: a regular-file target that backs a
// mounted loop device was truncated under the mounted ext4 (issue 16.8).
func TestRefuseFileBackingMountedLoop(t *testing.T) {
	requireLoop(t)
	isotest.RequireTool(t, "mkfs.ext4")
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 4)
	loop, backing := newLoop(t, dir, 32<<20)

	// Attached, idle: refused unless --force.
	p, err := Prepare(img, []string{backing}, Options{ToFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if pr := p.Targets[0].Problems; !hasProblem(pr, ProblemHeld) || !pr[0].Overridable {
		t.Errorf("file backing an attached loop device:\n%s", problemsText(p.Targets[0]))
	}
	p.Close()

	run(t, "mkfs.ext4", "-q", "-F", loop)
	mountAt(t, loop)
	st, _ := os.Stat(backing)
	p, err = Prepare(img, []string{backing}, Options{ToFile: true, Policy: Policy{Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	tg := p.Targets[0]
	if !hasProblem(tg.Problems, ProblemMounted) || !strings.Contains(problemsText(tg), "backs the loop device "+loop+", which is mounted at") {
		t.Errorf("file under a mounted loop device not refused:\n%s", problemsText(tg))
	}
	if _, err := p.Execute(context.Background()); !errors.Is(err, ErrRefused) {
		t.Errorf("Execute: %v, want ErrRefused", err)
	}
	if now, _ := os.Stat(backing); now.Size() != st.Size() {
		t.Errorf("backing file resized from %d to %d", st.Size(), now.Size())
	}
}

// TestExistingFileNeedsToFile: overwriting an existing regular file takes
// --to-file or --force, not only --yes (issue 16.8).
func TestExistingFileNeedsToFile(t *testing.T) {
	dir := t.TempDir()
	img, data := randomImage(t, dir, 64<<10, 5)
	out := filepath.Join(dir, "existing.img")
	os.WriteFile(out, []byte("someone's data"), 0o644)
	p, err := Prepare(img, []string{out}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr := p.Targets[0].Problems; !hasProblem(pr, ProblemExists) || !errors.Is(p.Err(), ErrRefused) {
		t.Errorf("existing file without --to-file: %v", p.Err())
	}
	p.Close()
	if b, _ := os.ReadFile(out); string(b) != "someone's data" {
		t.Errorf("file changed: %q", b)
	}
	for _, o := range []Options{{ToFile: true}, {Policy: Policy{Force: true}}} {
		writeAll(t, img, []string{out}, o)
		sameBytes(t, out, readBack(t, out, len(data)), data)
	}
}
