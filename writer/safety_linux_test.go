//go:build linux

package writer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// hasProblem reports whether t carries a problem with code.
func hasProblem(probs []Problem, code ProblemCode) bool {
	for _, p := range probs {
		if p.Code == code {
			return true
		}
	}
	return false
}

// partitionedLoop makes a loop device with one partition spanning it
// (sfdisk), attached with -P so that the partition node exists.
func partitionedLoop(t *testing.T, dir string, size int64, fsType string) (dev, part string) {
	t.Helper()
	isotest.RequireTool(t, "sfdisk", "mkfs."+fsType)
	dev, _ = newLoop(t, dir, size, "-P")
	cmd := exec.Command("sfdisk", "--quiet", dev)
	cmd.Stdin = strings.NewReader("label: dos\n,,c\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	part = dev + "p1"
	// The kernel re-reads the table after sfdisk; devtmpfs makes the node,
	// udev (if running) may still be busy with it.
	exec.Command("udevadm", "settle").Run()
	if _, err := os.Stat(part); err != nil {
		run(t, "partx", "-u", dev)
	}
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("partition node %s did not appear: %v", part, err)
	}
	args := []string{part}
	if fsType == "ext4" {
		args = []string{"-q", "-F", part}
	}
	run(t, "mkfs."+fsType, args...)
	return dev, part
}

// mountAt mounts dev on a fresh directory and unmounts it at cleanup.
func mountAt(t *testing.T, dev string) string {
	t.Helper()
	return isotest.Mount(t, dev)
}

func TestRefuseMountedExt4Partition(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 1)
	dev, part := partitionedLoop(t, dir, 64<<20, "ext4")
	mp := mountAt(t, part)

	// Even --force must not lift the mount rule.
	p, err := Prepare(img, []string{dev}, Options{Policy: Policy{Force: true, AllowLoop: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := p.Targets[0].Device
	if d.Eligible || !hasProblem(d.Problems, ProblemMounted) {
		t.Fatalf("mounted device accepted: %+v", d)
	}
	if len(d.Mounts) != 1 || d.Mounts[0].MountPoint != mp || d.Mounts[0].Device != filepath.Base(part) || d.Mounts[0].FSType != "ext4" {
		t.Errorf("mounts = %+v, want %s on %s", d.Mounts, filepath.Base(part), mp)
	}
	if !errors.Is(p.Err(), ErrRefused) || !strings.Contains(p.Err().Error(), mp) {
		t.Errorf("plan error %v does not name the mount point", p.Err())
	}
	if _, err := p.Execute(context.Background()); !errors.Is(err, ErrRefused) {
		t.Errorf("Execute on a refused plan: %v", err)
	}
	// The last line of defence: the exclusive open itself fails.
	if _, _, _, err := openDevice(dev); !errors.Is(err, ErrRefused) {
		t.Errorf("exclusive open of a mounted device: %v", err)
	}
}

// TestMountInfoVfat checks the mount matching against a synthetic
// mountinfo: the kernel here cannot mount vfat, but the partition, its
// major:minor and the mkfs.vfat file system are real.
func TestMountInfoVfat(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	dev, part := partitionedLoop(t, dir, 64<<20, "vfat")
	num := readDevNum(t, part)
	for _, tc := range []struct {
		name, line string
		mounted    bool
	}{
		{"by major:minor", fmt.Sprintf("101 27 %s / /media/usb\\040stick rw,relatime shared:1 - vfat %s rw,fmask=0022", num, part), true},
		{"by source path (anonymous device number)", fmt.Sprintf("102 27 0:99 / /media/b rw - vfat %s rw", part), true},
		{"another device", "103 27 1:2 / /media/c rw - vfat /dev/sdz1 rw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mi := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(mi, []byte("27 1 254:0 / / rw - ext4 /dev/vda rw\n"+tc.line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := LookupDevice(dev, &ProbeOptions{MountInfo: mi})
			if err != nil {
				t.Fatal(err)
			}
			got := hasProblem(d.Problems, ProblemMounted)
			if got != tc.mounted {
				t.Fatalf("mounted=%v, want %v (%+v)", got, tc.mounted, d.Mounts)
			}
			if tc.mounted && (d.Mounts[0].FSType != "vfat" || !strings.HasPrefix(d.Mounts[0].MountPoint, "/media/")) {
				t.Errorf("mount = %+v", d.Mounts[0])
			}
			if tc.name == "by major:minor" && d.Mounts[0].MountPoint != "/media/usb stick" {
				t.Errorf("octal escape not decoded: %q", d.Mounts[0].MountPoint)
			}
		})
	}
}

func readDevNum(t *testing.T, path string) DevNum {
	t.Helper()
	base := filepath.Base(path)
	b, err := os.ReadFile(filepath.Join("/sys/class/block", base, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseDevNum(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefuseDeviceHoldingSource puts the image on an ext4 file system on a
// loop device and tries to write it to that same device.
func TestRefuseDeviceHoldingSource(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	dev, _ := newLoop(t, dir, 64<<20)
	run(t, "mkfs.ext4", "-q", "-F", dev)
	mp := mountAt(t, dev)
	img, _ := randomImage(t, mp, 1<<20, 2)
	other, _ := newLoop(t, dir, 8<<20)

	p, err := Prepare(img, []string{dev, other}, Options{Policy: Policy{Force: true, AllowLoop: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if d := p.Targets[0].Device; !hasProblem(d.Problems, ProblemSource) {
		t.Errorf("%s holds the source but was not refused for it: %v", dev, d.Verdict())
	}
	if d := p.Targets[1].Device; !d.Eligible {
		t.Errorf("%s should be eligible: %v", other, d.Verdict())
	}

	// The same image arriving on stdin redirected from the file.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p2, err := Prepare("-", []string{dev}, Options{Stdin: f, Policy: Policy{Force: true, AllowLoop: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if d := p2.Targets[0].Device; !hasProblem(d.Problems, ProblemSource) {
		t.Errorf("stdin from a file on %s: not refused for holding the source: %v", dev, d.Verdict())
	}
}

// TestRefuseLoopBackedBySource: a loop device over the image file itself.
func TestRefuseLoopBackedBySource(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 4<<20, 3)
	dev := run(t, "losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	p, err := Prepare(img, []string{dev}, Options{Policy: Policy{AllowLoop: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if d := p.Targets[0].Device; !hasProblem(d.Problems, ProblemSource) {
		t.Errorf("loop device backed by the source accepted: %v", d.Verdict())
	}
}

func TestLoopNeedsOverride(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 4)
	dev, _ := newLoop(t, dir, 8<<20)
	for _, tc := range []struct {
		pol      Policy
		eligible bool
	}{
		{Policy{}, false},
		{Policy{AllowLoop: true}, true},
		{Policy{Force: true}, true},
	} {
		p, err := Prepare(img, []string{dev}, Options{Policy: tc.pol})
		if err != nil {
			t.Fatal(err)
		}
		d := p.Targets[0].Device
		p.Close()
		if d.Transport != TransportLoop || d.Eligible != tc.eligible {
			t.Errorf("policy %+v: transport %s eligible %v, want loop %v (%s)", tc.pol, d.Transport, d.Eligible, tc.eligible, d.Verdict())
		}
		if !tc.eligible && (!hasProblem(d.Problems, ProblemTransport) || !d.Problems[0].Overridable) {
			t.Errorf("want an overridable transport problem, got %+v", d.Problems)
		}
	}
}

func TestRefuseTooSmall(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 12<<20, 5)
	small, _ := newLoop(t, dir, 8<<20)

	// Known size: refused before anything is written.
	p, err := Prepare(img, []string{small}, Options{Policy: Policy{Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Targets[0].Device; !hasProblem(d.Problems, ProblemTooSmall) || d.Problems[0].Overridable {
		t.Errorf("small target accepted: %+v", d.Problems)
	}
	p.Close()

	// A stream of unknown size (larger than the inspection prefix): the
	// small target fails when the image outgrows it, the other target
	// still finishes and verifies.
	img, data := halfRandom(t, dir, 40<<20)
	gz := compressWith(t, "gzip", img)
	small, _ = newLoop(t, dir, 36<<20)
	big, bigBack := newLoop(t, dir, 48<<20)
	rep := writeAll(t, gz, []string{small, big}, Options{Policy: Policy{AllowLoop: true}})
	if r := rep.Results[0]; !errors.Is(r.Err, ErrTooSmall) {
		t.Errorf("%s: err = %v, want too small", r.Target, r.Err)
	}
	if r := rep.Results[1]; r.Err != nil || !r.Verified {
		t.Fatalf("%s: %v", r.Target, r.Err)
	}
	sameBytes(t, big, readBack(t, bigBack, len(data)), data)
	if rep.Failed() != 1 {
		t.Errorf("Failed() = %d, want 1", rep.Failed())
	}
}

// TestRecheckBeforeWrite: what was checked at Prepare time is checked again
// on the open handle, because a stick can be swapped or auto-mounted
// while the user reads the confirmation prompt.
func TestRecheckBeforeWrite(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 1<<20, 15)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p *Plan, dev string)
		want   string
	}{
		{"device swapped (other size)", func(t *testing.T, p *Plan, dev string) {
			p.Targets[0].Device.Size += 512
		}, "size is now"},
		{"device swapped (other serial)", func(t *testing.T, p *Plan, dev string) {
			p.Targets[0].Device.Serial = "OTHER"
		}, "now reports"},
		{"mounted after the check", func(t *testing.T, p *Plan, dev string) {
			run(t, "mkfs.ext4", "-q", "-F", dev)
			mountAt(t, dev)
		}, "busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev, _ := newLoop(t, dir, 16<<20)
			p, err := Prepare(img, []string{dev}, Options{Policy: Policy{AllowLoop: true}})
			if err != nil || p.Err() != nil {
				t.Fatal(err, p.Err())
			}
			tc.change(t, p, dev)
			rep, err := p.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; !errors.Is(r.Err, ErrRefused) || !strings.Contains(r.Err.Error(), tc.want) || r.Written != 0 {
				t.Errorf("err = %v, written %d; want a refusal mentioning %q", r.Err, r.Written, tc.want)
			}
		})
	}
}
