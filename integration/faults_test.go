//go:build linux

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"golang.org/x/sys/unix"
)

// campaignImage builds the image the fault campaign reads: 24 files of
// 1 MiB in big/ and 8 small ones in small/, each of its own pseudo-random
// content; seed changes every byte and the volume ID.
func campaignImage(t *testing.T, seed uint64) (string, map[string][]byte) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	want := map[string][]byte{}
	rng := rand.New(rand.NewPCG(seed, 7))
	add := func(name string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		p := filepath.Join(src, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
		want[name] = b
	}
	for i := range 24 {
		add(fmt.Sprintf("big/f%02d", i), 1<<20)
	}
	for i := range 8 {
		add(fmt.Sprintf("small/s%d", i), 1+rng.IntN(60000))
	}
	img := filepath.Join(d, "campaign.iso")
	xorriso(t, "-as", "mkisofs", "-R", "-V", fmt.Sprintf("CAMPAIGN_%d", seed), "-o", img, src)
	return img, want
}

// loader runs 32 readers against one mount: random files, random
// offsets and lengths, half of them with O_DIRECT (every read reaches the
// daemon) and half through the page cache, each read checked byte for
// byte. Wrong data is always a violation; an error is one unless the
// loader is lenient or mayFail allows it for that file (then only EIO).
type loader struct {
	what    string
	mp      string
	names   []string
	want    map[string][]byte
	mayFail func(name string) bool
	lenient atomic.Bool
	gate    sync.RWMutex // readers hold it shared per read; pause takes it

	reads, fails, bytes atomic.Int64
	mu                  sync.Mutex
	violations          []string
	stop                chan struct{}
	wg                  sync.WaitGroup
}

func startLoad(t *testing.T, what, mp string, want map[string][]byte, mayFail func(string) bool) *loader {
	l := &loader{what: what, mp: mp, want: want, mayFail: mayFail, stop: make(chan struct{})}
	for n := range want {
		l.names = append(l.names, n)
	}
	for g := range 32 {
		l.wg.Add(1)
		go l.run(uint64(g), g%2 == 0)
	}
	return l
}

func (l *loader) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) < 20 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

func (l *loader) run(seed uint64, direct bool) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(seed, 99))
	buf, err := unix.Mmap(-1, 0, 256<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		l.violate("mmap: %v", err)
		return
	}
	defer unix.Munmap(buf)
	flags := unix.O_RDONLY
	if direct {
		flags |= unix.O_DIRECT
	}
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		name := l.names[rng.IntN(len(l.names))]
		data := l.want[name]
		off := rng.Int64N(int64(len(data))+1) &^ 4095
		n := (1 + rng.IntN(64)) * 4096
		l.gate.RLock()
		lenient := l.lenient.Load()
		got, err := l.readOne(name, flags, buf[:n], off)
		l.gate.RUnlock()
		l.reads.Add(1)
		if err != nil {
			l.fails.Add(1)
			switch {
			case lenient:
			case l.mayFail != nil && l.mayFail(name):
				if !errors.Is(err, syscall.EIO) {
					l.violate("%s: %s at %d: %v, want EIO", l.what, name, off, err)
				}
			default:
				l.violate("%s: %s at %d: %v", l.what, name, off, err)
			}
			continue
		}
		wantN := min(int64(n), int64(len(data))-off)
		if int64(len(got)) != wantN || !bytes.Equal(got, data[off:off+wantN]) {
			l.violate("%s: %s at %d: WRONG DATA (%d bytes, want %d)", l.what, name, off, len(got), wantN)
		}
		l.bytes.Add(int64(len(got)))
	}
}

func (l *loader) readOne(name string, flags int, buf []byte, off int64) ([]byte, error) {
	return preadFile(filepath.Join(l.mp, name), flags, buf, off)
}

// preadFile opens path with flags and fills buf from off, stopping early
// only at the end of the file.
func preadFile(path string, flags int, buf []byte, off int64) ([]byte, error) {
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	got := 0
	for got < len(buf) {
		k, err := unix.Pread(fd, buf[got:], off+int64(got))
		if err != nil {
			return nil, err
		}
		if k == 0 {
			break
		}
		got += k
	}
	return buf[:got], nil
}

// drain waits for reads in flight (started under the old rules) to end.
func (l *loader) drain() { l.gate.Lock(); l.gate.Unlock() }

// expectFaults lets errors through from now on, once the reads started
// under the strict rule have ended: call it before breaking something.
func (l *loader) expectFaults() { l.lenient.Store(true); l.drain() }

// strict makes errors violations again once the reads started during
// the fault have ended: call it after repairing.
func (l *loader) strict() { l.drain(); l.lenient.Store(false) }

// finish stops the readers (failing the test if one hangs) and reports.
func (l *loader) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: readers hung for 30 s after being stopped", l.what)
	}
	t.Logf("%s: %d reads, %d MiB verified, %d failed", l.what, l.reads.Load(), l.bytes.Load()>>20, l.fails.Load())
	for _, v := range l.violations {
		t.Error(v)
	}
	if l.reads.Load() < 100 {
		t.Errorf("%s: only %d reads: the load did not run", l.what, l.reads.Load())
	}
}

// directRead reads a whole file with O_DIRECT, bypassing the page cache.
func directRead(path string, size int) ([]byte, error) {
	buf, err := unix.Mmap(-1, 0, (size+4095)&^4095+4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	defer unix.Munmap(buf)
	// The buffer is larger than the file, so the read ends at its end.
	got, err := preadFile(path, unix.O_RDONLY|unix.O_DIRECT, buf, 0)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(got), nil
}

// TestFaultCampaign runs 32 verifying readers on each of three mounts at
// once and, under that load, breaks things: a disk that returns EIO for a
// range (the faulty-disk helper), the image truncated, rewritten with
// another image, deleted, the daemon sent SIGTERM mid-read, then killed
// with -9 and remounted. Nothing may serve wrong bytes; affected reads
// fail with EIO; the bystander mount never sees an error; no daemon
// panics or hangs.
func TestFaultCampaign(t *testing.T) {
	isotest.RequireFUSE(t)
	imgA, want := campaignImage(t, 1)
	imgB, _ := campaignImage(t, 2)
	a, err := os.ReadFile(imgA)
	must(t, err)
	b, err := os.ReadFile(imgB)
	must(t, err)
	lba := reportLBA(t, imgA)
	extentOf := func(name string) (int64, int64) { // byte range in the image
		e := lba[name][0]
		return e[0] * 2048, e[0]*2048 + int64(len(want[name]))
	}

	dir := t.TempDir()
	victimPath := filepath.Join(dir, "victim.iso")
	byPath := filepath.Join(dir, "bystander.iso")
	must(t, os.WriteFile(victimPath, a, 0o644))
	must(t, os.WriteFile(byPath, a, 0o644))
	faulty := newFaultyDisk(t, a)

	by := mountImage(t, byPath)
	fm := mountImage(t, faulty.Path)
	vmp := newMountpoint(t)
	vcmd, vlog := foreground(t, victimPath, vmp)

	// The bad range: 64 KiB in the middle of big/f07. Files within 128 KiB
	// of it may fail too (the sector cache reads 64 KiB blocks).
	s, _ := extentOf("big/f07")
	bad := [2]int64{s + 256<<10, s + 320<<10}
	nearBad := func(name string) bool {
		lo, hi := extentOf(name)
		return lo < bad[1]+128<<10 && hi > bad[0]-128<<10
	}
	byLoad := startLoad(t, "bystander", by.mp, want, nil)
	fLoad := startLoad(t, "faulty-disk", fm.mp, want, nearBad)
	vLoad := startLoad(t, "victim", vmp, want, nil)
	probe := func(step, mp, name string, wantErr bool) {
		t.Helper()
		got, err := directRead(filepath.Join(mp, name), len(want[name]))
		switch {
		case wantErr && !errors.Is(err, syscall.EIO):
			t.Errorf("%s: %s: %d bytes, %v; want EIO", step, name, len(got), err)
		case !wantErr && err != nil:
			t.Errorf("%s: %s: %v", step, name, err)
		case !wantErr && !bytes.Equal(got, want[name]):
			t.Errorf("%s: %s: wrong content", step, name)
		}
	}
	time.Sleep(500 * time.Millisecond)

	// 1. The disk under one mount returns EIO for a range, then heals.
	faulty.SetBad(bad)
	time.Sleep(time.Second)
	probe("faulty disk", fm.mp, "big/f07", true)
	probe("faulty disk", fm.mp, "big/f20", false)
	probe("faulty disk", fm.mp, "small/s3", false)
	faulty.SetBad()
	fLoad.drain() // reads that met the fault end before the probe
	probe("healed disk", fm.mp, "big/f07", false)
	if faulty.Failed() == 0 {
		t.Error("the faulty disk never failed a read: the fault was not exercised")
	}

	// 2. The victim image truncated in big/f12, then restored.
	cut, _ := extentOf("big/f12")
	cut += 4096
	var before, after string
	for name := range want {
		lo, hi := extentOf(name)
		if hi <= cut && before == "" {
			before = name
		}
		if lo >= cut && after == "" {
			after = name
		}
	}
	vLoad.expectFaults()
	must(t, os.Truncate(victimPath, cut))
	time.Sleep(500 * time.Millisecond)
	probe("truncated", vmp, after, true)
	probe("truncated", vmp, before, false)
	must(t, os.WriteFile(victimPath, a, 0o644))
	vLoad.strict()
	probe("restored", vmp, after, false)
	time.Sleep(500 * time.Millisecond)

	// 3. Another image written over the victim in place (as cp does). The
	// readers pause for the write itself: a read racing the rewrite can
	// see the new bytes once (see filesrc.File).
	vLoad.expectFaults()
	vLoad.gate.Lock()
	must(t, os.WriteFile(victimPath, b, 0o644))
	vLoad.gate.Unlock()
	time.Sleep(700 * time.Millisecond)
	probe("rewritten", vmp, "big/f05", true)
	probe("rewritten", vmp, "small/s1", true)
	must(t, os.WriteFile(victimPath, a, 0o644))
	vLoad.strict()
	probe("restored again", vmp, "big/f05", false)
	time.Sleep(500 * time.Millisecond)

	// 4. Deleted: the daemon's open file keeps the data.
	must(t, os.Remove(victimPath))
	time.Sleep(700 * time.Millisecond)
	probe("deleted", vmp, "big/f09", false)

	// 5. SIGTERM while 32 readers are at work: a clean, bounded exit.
	vLoad.expectFaults()
	must(t, vcmd.Process.Signal(syscall.SIGTERM))
	if code := waitExit(t, vcmd, 20*time.Second); code != 0 {
		t.Errorf("SIGTERM mid-read: exit %d", code)
	}
	vLoad.finish(t)
	if isMounted(t, vmp) {
		t.Error("victim still mounted after SIGTERM")
	}
	vl := vlog.String()
	for _, w := range []string{"truncated", "replaced"} {
		if !strings.Contains(vl, w) {
			t.Errorf("victim log does not mention %q:\n%s", w, vl)
		}
	}

	// 6. kill -9 under load, then a new mount on the stale mountpoint.
	must(t, os.WriteFile(victimPath, a, 0o644))
	kcmd, klog := foreground(t, victimPath, vmp)
	kLoad := startLoad(t, "killed", vmp, want, nil)
	time.Sleep(500 * time.Millisecond)
	kLoad.expectFaults()
	must(t, kcmd.Process.Signal(syscall.SIGKILL))
	waitExit(t, kcmd, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if out, code := run(t, "mount", victimPath, vmp); code != 0 {
		t.Fatalf("remount over the killed mount: exit %d: %s", code, out)
	}
	m := &mounted{mp: vmp}
	t.Cleanup(func() { m.unmount(t) })
	kLoad.strict()
	time.Sleep(time.Second)
	kLoad.finish(t)

	byLoad.finish(t)
	fLoad.finish(t)
	if byLoad.fails.Load() != 0 {
		t.Errorf("the bystander mount saw %d failed reads", byLoad.fails.Load())
	}
	for _, l := range []struct{ name, text string }{
		{"bystander", readLog(by.log)}, {"faulty-disk", readLog(fm.log)}, {"victim", vl}, {"killed", klog.String()},
	} {
		if strings.Contains(l.text, "panic") || strings.Contains(l.text, "goroutine ") {
			t.Errorf("%s daemon log shows a panic:\n%s", l.name, l.text)
		}
	}
	if fl := readLog(fm.log); !strings.Contains(fl, "f07") {
		t.Errorf("faulty-disk daemon did not log the failed file:\n%s", fl)
	}
	for _, mp := range []string{by.mp, fm.mp} {
		if !isMounted(t, mp) {
			t.Errorf("%s stopped serving", mp)
		}
	}
}
