//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// faultyNode is a FUSE file that behaves like a failing disc: reads that
// touch a bad range fail with EIO, and every read is slowed down so a test
// can kill the reader half-way.
type faultyNode struct {
	fs.Inode
	data  []byte
	delay time.Duration

	mu  sync.Mutex
	bad [][2]int64
}

func (n *faultyNode) setBad(bad [][2]int64) {
	n.mu.Lock()
	n.bad = bad
	n.mu.Unlock()
}

var (
	_ fs.NodeOpener    = (*faultyNode)(nil)
	_ fs.NodeReader    = (*faultyNode)(nil)
	_ fs.NodeGetattrer = (*faultyNode)(nil)
)

func (n *faultyNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	// Direct I/O: every read(2) reaches us as issued, no page-cache
	// read-ahead mixing good and bad ranges.
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (n *faultyNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = 0o444 | syscall.S_IFREG
	out.Size = uint64(len(n.data))
	return 0
}

func (n *faultyNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	time.Sleep(n.delay)
	end := min(off+int64(len(dest)), int64(len(n.data)))
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range n.bad {
		if off < b[1] && end > b[0] {
			return nil, syscall.EIO
		}
	}
	if off >= end {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(n.data[off:end]), 0
}

// recoverFaultyMount serves data as mnt/disk with the given bad ranges.
func recoverFaultyMount(t *testing.T, data []byte, bad [][2]int64, delay time.Duration) (string, *faultyNode) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	mnt := t.TempDir()
	root := &fs.Inode{}
	node := &faultyNode{data: data, bad: bad, delay: delay}
	srv, err := fs.Mount(mnt, root, &fs.Options{
		OnAdd: func(ctx context.Context) {
			ch := root.NewPersistentInode(ctx, node, fs.StableAttr{Mode: syscall.S_IFREG})
			root.AddChild("disk", ch, false)
		},
		MountOptions: fuse.MountOptions{FsName: "faultydisk", DirectMount: true},
	})
	if err != nil {
		t.Skipf("cannot mount FUSE: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return filepath.Join(mnt, "disk"), node
}

// TestRescueKillAndResume runs the real binary on a slow faulty FUSE
// source, SIGKILLs it mid-copy, checks that the saved map never claims data
// the output does not hold, then resumes to the end and checks the result
// byte by byte and with ddrescuelog.
func TestRescueKillAndResume(t *testing.T) {
	bin := isofsdBinary(t)
	const S = 2048
	size := int64(12 << 20)
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{9}).Read(data)
	bad := [][2]int64{{1000 * S, 1003 * S}, {4000*S + 100, 4000*S + 101}, {size - S, size}}
	src, node := recoverFaultyMount(t, data, bad, 15*time.Millisecond)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.iso")
	mapPath := filepath.Join(dir, "out.map")

	cmd := exec.Command(bin, "rescue", "--cluster", "65536", src, out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the map shows a few MiB finished, then kill -9.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m, err := ddmap.Load(mapPath); err == nil && m.Totals()[ddmap.Finished].Bytes >= 2<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no progress in the map after 60 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	m, err := ddmap.Load(mapPath)
	if err != nil {
		t.Fatalf("map after SIGKILL: %v", err)
	}
	fin := m.Totals()[ddmap.Finished].Bytes
	if fin >= size-3*S {
		t.Fatalf("killed too late: %d of %d bytes already finished", fin, size)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Blocks {
		if b.Status == ddmap.Finished && !bytes.Equal(got[b.Pos:b.End()], data[b.Pos:b.End()]) {
			t.Fatalf("after SIGKILL the map says [%d,%d) is finished but the output differs", b.Pos, b.End())
		}
	}
	t.Logf("killed with %d of %d bytes finished", fin, size)

	// Resume. To prove it does not start over, the part already finished
	// now fails: a run that re-read it would mark it bad.
	var now [][2]int64
	now = append(now, bad...)
	for _, b := range m.Blocks {
		if b.Status == ddmap.Finished {
			now = append(now, [2]int64{b.Pos, b.End()})
		}
	}
	node.setBad(now)
	res := exec.Command(bin, "rescue", "--json", "--retries", "1", src, out)
	var stdout bytes.Buffer
	stderr.Reset()
	res.Stdout, res.Stderr = &stdout, &stderr
	err = res.Run()
	if code := res.ProcessState.ExitCode(); code != exitDamaged {
		t.Fatalf("resumed rescue: exit %d (%v), want %d (bad sectors remain)\n%s", code, err, exitDamaged, stderr.String())
	}
	m, err = ddmap.Load(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != size {
		t.Fatalf("output is %d bytes, want %d", len(got), size)
	}
	isBad := func(sec int64) bool {
		for _, b := range bad {
			if sec*S < b[1] && (sec+1)*S > b[0] {
				return true
			}
		}
		return false
	}
	for sec := int64(0); sec*S < size; sec++ {
		st, _ := m.StatusAt(sec * S)
		if isBad(sec) {
			if st != ddmap.BadSector {
				t.Errorf("sector %d: status %c, want -", sec, st)
			}
			continue
		}
		if st != ddmap.Finished {
			t.Fatalf("sector %d: status %c, want +", sec, st)
		}
		if !bytes.Equal(got[sec*S:(sec+1)*S], data[sec*S:(sec+1)*S]) {
			t.Fatalf("sector %d differs from the source", sec)
		}
	}
	if !bytes.Contains(stdout.Bytes(), []byte(`"complete": false`)) {
		t.Errorf("JSON report lacks complete=false:\n%s", stdout.String())
	}
	if _, err := exec.LookPath("ddrescuelog"); err == nil {
		o, err := exec.Command("ddrescuelog", "-b", "2048", "-l-", mapPath).CombinedOutput()
		if err != nil {
			t.Fatalf("ddrescuelog: %v\n%s", err, o)
		}
		want := "1000\n1001\n1002\n4000\n" + itoa64(size/S-1) + "\n"
		if string(o) != want {
			t.Errorf("ddrescuelog bad sectors = %q, want %q", o, want)
		}
	}
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

// TestRescueNamesDamagedFiles rescues an ISO whose source fails inside one
// file and checks the final report names exactly that file.
func TestRescueNamesDamagedFiles(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	bin := isofsdBinary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	a := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{1}).Read(a)
	os.WriteFile(filepath.Join(root, "d", "hit.bin"), a, 0o644)
	os.WriteFile(filepath.Join(root, "whole.txt"), []byte("intact\n"), 0o644)
	iso := filepath.Join(dir, "src.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-o", iso, root).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(iso)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := img.Stat("d/hit.bin")
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	ext := fi.Sys().(*isofmt.Stat).Extents[0]
	badAt := ext.Offset + 300_000
	src, _ := recoverFaultyMount(t, data, [][2]int64{{badAt, badAt + 10}}, 0)
	out := filepath.Join(dir, "out.iso")
	cmd := exec.Command(bin, "rescue", "--json", src, out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitDamaged {
		t.Fatalf("exit %d, want %d\n%s", code, exitDamaged, stderr.String())
	}
	var rep struct {
		Files struct {
			Damaged []struct {
				Path   string
				Ranges []struct {
					FileOffset int64 `json:"file_offset"`
					Length     int64
				}
			}
			Whole int
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if len(rep.Files.Damaged) != 1 || rep.Files.Damaged[0].Path != "/d/hit.bin" {
		t.Fatalf("damaged files %+v, want /d/hit.bin only\n%s", rep.Files.Damaged, stdout.String())
	}
	r := rep.Files.Damaged[0].Ranges
	if len(r) != 1 || r[0].FileOffset != 300_000/2048*2048 || r[0].Length != 2048 {
		t.Errorf("damaged range %+v, want the one 2048-byte sector holding file byte 300000", r)
	}
	if rep.Files.Whole < 1 {
		t.Errorf("whole files %d", rep.Files.Whole)
	}
}

// recoverISO builds a small image with xorriso: Rock Ridge, a checksum
// list when lists is set, an implanted MD5 when implant is set.
func recoverISO(t *testing.T, dir string, lists, implant bool) (string, map[string][]byte) {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5", "checkisomd5")
	root := filepath.Join(dir, "root")
	files := map[string][]byte{"a/one.bin": make([]byte, 700_000), "two.txt": []byte("two\n")}
	rand.NewChaCha8([32]byte{5}).Read(files["a/one.bin"])
	for name, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
		os.WriteFile(filepath.Join(root, name), data, 0o644)
	}
	if lists {
		out, err := exec.Command("sh", "-c", "cd "+root+" && md5sum a/one.bin two.txt > md5sum.txt").CombinedOutput()
		if err != nil {
			t.Fatalf("md5sum: %v %s", err, out)
		}
	}
	iso := filepath.Join(dir, "img.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-o", iso, root).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	if implant {
		if out, err := exec.Command("implantisomd5", iso).CombinedOutput(); err != nil {
			t.Fatalf("implantisomd5: %v\n%s", err, out)
		}
	}
	return iso, files
}

func runIsofsd(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestVerifySalvageCLI checks the exit-code contract of verify and salvage
// against checkisomd5's verdicts on the same files.
func TestVerifySalvageCLI(t *testing.T) {
	bin := isofsdBinary(t)
	dir := t.TempDir()
	iso, files := recoverISO(t, dir, true, true)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := img.Stat("a/one.bin")
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	oneAt := fi.Sys().(*isofmt.Stat).Extents[0].Offset
	data, _ := os.ReadFile(iso)
	flipped := append([]byte(nil), data...)
	flipped[oneAt+12345] ^= 1
	plainDir := t.TempDir()
	plain, _ := recoverISO(t, plainDir, false, false)
	cases := []struct {
		name     string
		content  []byte
		path     string
		wantCode int
		wantText string
	}{
		{"good", data, "", exitOK, "verdict:  ok"},
		{"flipped", flipped, "", exitDamaged, "/a/one.bin"},
		{"truncated", data[:len(data)-400_000], "", exitDamaged, "truncation"},
		{"no checksums", nil, plain, exitUsage, "cannot tell"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path
			if p == "" {
				p = filepath.Join(t.TempDir(), "x.iso")
				os.WriteFile(p, tc.content, 0o644)
			}
			code, out := runIsofsd(t, bin, "verify", p)
			if code != tc.wantCode || !strings.Contains(out, tc.wantText) {
				t.Fatalf("verify: exit %d (want %d), output lacks %q:\n%s", code, tc.wantCode, tc.wantText, out)
			}
			if tc.path == "" {
				ref := exec.Command("checkisomd5", p).Run() == nil
				if ref != (code == exitOK) {
					t.Errorf("checkisomd5 pass=%v, isofsd exit %d", ref, code)
				}
			}
			// salvage: everything on a good image, all but the damaged file otherwise.
			out2 := filepath.Join(t.TempDir(), "out")
			scode, sout := runIsofsd(t, bin, "salvage", p, "-C", out2)
			for name, want := range files {
				got, err := os.ReadFile(filepath.Join(out2, name))
				damaged := strings.Contains(sout, "SKIPPED /"+name)
				switch {
				case damaged && err == nil:
					t.Errorf("salvage wrote %s although it skipped it", name)
				case strings.Contains(sout, "PARTIAL /"+name+" "):
					// Written in part (issue 21): the ranges it lists as
					// written hold the original bytes.
					checkPartialOutput(t, name, sout, got, want)
				case !damaged && (err != nil || !bytes.Equal(got, want)):
					t.Errorf("salvage: %s missing or wrong (%v)\n%s", name, err, sout)
				}
			}
			if tc.name == "flipped" && !strings.Contains(sout, "SKIPPED /a/one.bin") && !strings.Contains(sout, "PARTIAL /a/one.bin") {
				t.Errorf("salvage did not leave out the damaged part of a/one.bin:\n%s", sout)
			}
			incomplete := strings.Contains(sout, "SKIPPED") || strings.Contains(sout, "PARTIAL") || strings.Contains(sout, "PROBLEM")
			if want := map[bool]int{true: exitOK, false: exitDamaged}[!incomplete]; scode != want {
				t.Errorf("salvage exit %d, want %d\n%s", scode, want, sout)
			}
		})
	}
}

// checkPartialOutput checks a file salvage lists as PARTIAL: its size is
// the original's, the byte ranges listed as written equal the original,
// those listed as missing read as zeros.
func checkPartialOutput(t *testing.T, name, out string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: partial file of %d bytes, want %d", name, len(got), len(want))
		return
	}
	block := out[strings.Index(out, "PARTIAL /"+name+" "):]
	for _, kind := range []string{"written:", "missing:"} {
		i := strings.Index(block, kind)
		if i < 0 {
			t.Errorf("%s: no %s line:\n%s", name, kind, block)
			return
		}
		line, _, _ := strings.Cut(block[i+len(kind):], "\n")
		for _, r := range strings.Split(strings.TrimSpace(line), ", ") {
			var lo, hi int
			if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err != nil || hi >= len(want) {
				t.Errorf("%s: range %q: %v", name, r, err)
				continue
			}
			ref := want[lo : hi+1]
			if kind == "missing:" {
				ref = make([]byte, hi+1-lo)
			}
			if !bytes.Equal(got[lo:hi+1], ref) {
				t.Errorf("%s: %s %s differs", name, kind, r)
			}
		}
	}
}

// TestCarveCLI hides two images in a disk image file and carves it with
// the binary; the JSON report and the files must match the originals.
func TestCarveCLI(t *testing.T) {
	bin := isofsdBinary(t)
	dir := t.TempDir()
	iso, _ := recoverISO(t, dir, true, true)
	data, _ := os.ReadFile(iso)
	noise := make([]byte, 3<<20+512)
	rand.NewChaCha8([32]byte{7}).Read(noise)
	var disk []byte
	disk = append(disk, noise...)
	disk = append(disk, data...)
	disk = append(disk, noise[:1<<20]...)
	disk = append(disk, data...)
	dpath := filepath.Join(dir, "disk.img")
	os.WriteFile(dpath, disk, 0o644)
	outDir := filepath.Join(dir, "carved")
	code, out := runIsofsd(t, bin, "carve", "--json", dpath, "-o", outDir)
	if code != exitOK {
		t.Fatalf("carve exit %d\n%s", code, out)
	}
	var full struct {
		FileSystems []any `json:"file_systems"`
		Images      []struct {
			Offset int64
			Path   string
			Status string
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &full); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rep := full.Images
	want := []int64{int64(len(noise)), int64(len(noise) + len(data) + 1<<20)}
	if len(rep) != 2 {
		t.Fatalf("found %d images, want 2\n%s", len(rep), out)
	}
	for i, r := range rep {
		got, _ := os.ReadFile(r.Path)
		if r.Offset != want[i] || r.Status != "exact" || !bytes.Equal(got, data) {
			t.Errorf("image %d: offset %d (want %d), status %s, byte-exact %v", i, r.Offset, want[i], r.Status, bytes.Equal(got, data))
		}
	}
	// The text report ends with the summary table; "undelete" is the same
	// command.
	code, out = runIsofsd(t, bin, "undelete", dpath, "-o", filepath.Join(dir, "again"))
	if code != exitOK || !regexp.MustCompile(`(?m)^STATUS +SIZE +OFFSET +NAME +HOW\n(exact .*signature\n){2}`).MatchString(out) {
		t.Errorf("undelete: exit %d, no summary table of two exact images\n%s", code, out)
	}
	// The same disk as a block device (a loop device over the file) scans
	// the same; refusing an OUTDIR on the source is tested in package
	// recover (TestCheckOutputDevice), which can mount a file system.
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("losetup"); err == nil {
			loop, err := exec.Command("losetup", "-f", "--show", dpath).Output()
			if err == nil {
				dev := strings.TrimSpace(string(loop))
				defer exec.Command("losetup", "-d", dev).Run()
				code, out := runIsofsd(t, bin, "carve", "--scan-only", dev)
				if code != exitOK {
					t.Errorf("carve of the loop device: exit %d\n%s", code, out)
				}
			}
		}
	}
}

// TestRescueMatchesGNUddrescue copies the same faulty FUSE source with
// isofsd and with GNU ddrescue: the bad-sector lists of the two mapfiles
// (as ddrescuelog reads them) and the rescued bytes must agree.
func TestRescueMatchesGNUddrescue(t *testing.T) {
	isotest.RequireTool(t, "ddrescue", "ddrescuelog")
	bin := isofsdBinary(t)
	const S = 2048
	data := make([]byte, 6<<20+3*S)
	rand.NewChaCha8([32]byte{11}).Read(data)
	bad := [][2]int64{{7 * S, 9 * S}, {1500*S + 7, 1500*S + 8}, {2000 * S, 2100 * S}, {int64(len(data)) - S, int64(len(data))}}
	src, _ := recoverFaultyMount(t, data, bad, 0)
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	if code, out := runIsofsd(t, bin, "rescue", src, ours+".iso"); code != exitDamaged {
		t.Fatalf("isofsd rescue: exit %d\n%s", code, out)
	}
	if out, err := exec.Command("ddrescue", "-b", "2048", src, theirs+".iso", theirs+".map").CombinedOutput(); err != nil {
		t.Fatalf("ddrescue: %v\n%s", err, out)
	}
	list := func(m string) string {
		out, err := exec.Command("ddrescuelog", "-b", "2048", "-l-", m).CombinedOutput()
		if err != nil {
			t.Fatalf("ddrescuelog %s: %v\n%s", m, err, out)
		}
		return string(out)
	}
	if a, b := list(ours+".map"), list(theirs+".map"); a != b || a == "" {
		t.Errorf("bad sectors differ:\nisofsd:   %q\nddrescue: %q", a, b)
	}
	a, _ := os.ReadFile(ours + ".iso")
	b, _ := os.ReadFile(theirs + ".iso")
	n := min(len(a), len(b))
	for sec := 0; sec*S < n; sec++ {
		lo, hi := sec*S, min((sec+1)*S, n)
		if !bytes.Equal(a[lo:hi], b[lo:hi]) && !bytes.Equal(b[lo:hi], make([]byte, hi-lo)) {
			t.Fatalf("sector %d differs between the two rescues", sec)
		}
	}
}

// TestUndeleteCLI: `isofsd undelete` on a FAT32 disk (mkfs.fat + mtools)
// where two images were copied and deleted: both come back under their
// original names; the one with an implanted MD5 is exact, the one without
// is likely (its chain was assumed) until --sums names its hash, then
// exact; --no-fs falls back to carving; the source is not written.
func TestUndeleteCLI(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdel")
	bin := isofsdBinary(t)
	dir := t.TempDir()
	md5iso, _ := recoverISO(t, filepath.Join(dir, "a"), false, true)
	plain, _ := recoverISO(t, filepath.Join(dir, "b"), false, false)
	disk := filepath.Join(dir, "fat32.img")
	if out, err := exec.Command("mkfs.fat", "-F", "32", "-C", disk, "40960").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.fat: %v %s", err, out)
	}
	for _, c := range [][]string{
		{"mcopy", "-i", disk, md5iso, "::/checked image.iso"},
		{"mcopy", "-i", disk, plain, "::/plain image.iso"},
		{"mdel", "-i", disk, "::/checked image.iso", "::/plain image.iso"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	before, _ := os.ReadFile(disk)
	type report struct {
		FileSystems []struct{ Kind string } `json:"file_systems"`
		Images      []struct {
			Name, Path, Status, Note string
		}
	}
	undelete := func(args ...string) (int, map[string]string, report) {
		out := filepath.Join(dir, "out"+strconv.Itoa(len(args)))
		code, text := runIsofsd(t, bin, append([]string{"undelete", "--json", disk, "-o", out}, args...)...)
		var rep report
		if err := json.Unmarshal([]byte(text[strings.Index(text, "{"):]), &rep); err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		st := map[string]string{}
		for _, im := range rep.Images {
			st[im.Name] = im.Status
			t.Logf("%q -> %s: %s (%s)", im.Name, im.Path, im.Status, im.Note)
		}
		return code, st, rep
	}
	code, st, rep := undelete()
	if len(rep.FileSystems) != 1 || rep.FileSystems[0].Kind != "fat" {
		t.Errorf("file systems: %+v", rep.FileSystems)
	}
	if code != exitOK || st["checked image.iso"] != "exact" || st["plain image.iso"] != "likely" {
		t.Errorf("exit %d, statuses %v", code, st)
	}
	for _, im := range rep.Images {
		if im.Name == "checked image.iso" {
			got, _ := os.ReadFile(im.Path)
			want, _ := os.ReadFile(md5iso)
			if !bytes.Equal(got, want) || filepath.Base(im.Path) != "checked image.iso" {
				t.Errorf("%s: not byte-exact under its name", im.Path)
			}
		}
	}
	// The plain image's published checksum, by its original name.
	want, _ := os.ReadFile(plain)
	sum, _ := exec.Command("sha256sum", plain).Output()
	sums := filepath.Join(dir, "SHA256SUMS")
	os.WriteFile(sums, []byte(strings.Fields(string(sum))[0]+"  plain image.iso\n"), 0o644)
	if _, st, rep := undelete("--sums", sums); st["plain image.iso"] != "exact" {
		t.Errorf("with --sums: %v", st)
	} else {
		for _, im := range rep.Images {
			if got, _ := os.ReadFile(im.Path); im.Name == "plain image.iso" && !bytes.Equal(got, want) {
				t.Errorf("plain image called exact but differs")
			}
		}
	}
	// Carving alone still finds both (contiguous on a fresh FAT), unnamed.
	if code, _, rep := undelete("--no-fs", "--scan-only"); code != exitOK || len(rep.Images) != 2 || len(rep.FileSystems) != 0 {
		t.Errorf("--no-fs: exit %d, %+v", code, rep)
	}
	if after, _ := os.ReadFile(disk); !bytes.Equal(before, after) {
		t.Errorf("undelete wrote to its source")
	}
}

// TestCarveBadArguments: the review's carve repros (W2, W7) exit 2 with
// one line naming what is wrong: a --chunk out of range (99999999999999
// ran the process out of memory; 0, -1 and 1 were taken), a missing
// source (the line said only "no such file or directory") and an OUTDIR
// that cannot be made.
func TestCarveBadArguments(t *testing.T) {
	iso := isotest.CorpusFile(t, "libcdio/copying-rr.iso")
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexist")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"carve", "--chunk", "99999999999999", "--scan-only", iso}, `"--chunk"`},
		{[]string{"carve", "--chunk", "0", "--scan-only", iso}, `"--chunk"`},
		{[]string{"carve", "--chunk", "-1", "--scan-only", iso}, `"--chunk"`},
		{[]string{"carve", "--chunk", "1", "--scan-only", iso}, `"--chunk"`},
		{[]string{"carve", missing, "-o", filepath.Join(dir, "out")}, missing + ": no such file or directory"},
		{[]string{"carve", iso, "-o", filepath.Join(iso, "out")}, "-o " + filepath.Join(iso, "out") + ": "},
	} {
		_, stderr, code := burnRun(t, nil, c.args...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "isofsd: ") || !strings.Contains(stderr, c.says) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line saying %q", c.args, code, stderr, c.says)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("carve of a missing source created OUTDIR")
	}
}
