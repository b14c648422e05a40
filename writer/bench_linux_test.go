//go:build linux

package writer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWriteLoop writes an image (1 GiB by default, ISOFSD_BENCH_MB to
// change) from /dev/shm to a loop device backed by /dev/shm, alternating
// this package with `dd bs=4M oflag=direct conv=fsync`, and reports both
// throughputs, their ratio and the verify time. Other work on the machine
// makes single runs noisy, so minimum and median over the runs are given:
//
//	go test -run XXX -bench WriteLoop -benchtime 10x ./writer/
func BenchmarkWriteLoop(b *testing.B) {
	requireLoop(b)
	mb := 1024
	if v, err := strconv.Atoi(os.Getenv("ISOFSD_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	size := mb << 20
	dir, err := os.MkdirTemp("/dev/shm", "isofsd-writer-bench-")
	if err != nil {
		b.Skip("no /dev/shm:", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	img, _ := randomImage(b, dir, size, 42)
	dev, backing := newLoop(b, dir, int64(size)+(16<<20))
	// Both writers overwrite pages that already exist in the backing file.
	fillFile(b, backing, 0)

	// ISOFSD_BENCH_NOVERIFY=1 measures the write path alone (no checksums).
	noVerify := os.Getenv("ISOFSD_BENCH_NOVERIFY") != ""
	var ours, dd, verify []time.Duration
	var ddCPU, oursCPU time.Duration // user+sys of the process, summed
	runDD := func() {
		start := time.Now()
		cmd := exec.Command("dd", "if="+img, "of="+dev, "bs=4M", "oflag=direct", "conv=fsync")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dd: %v %s", err, out)
		}
		dd = append(dd, time.Since(start))
		ddCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	runOurs := func() {
		cpu0 := selfCPU()
		start := time.Now()
		p, err := Prepare(img, []string{dev}, Options{Policy: Policy{AllowLoop: true}, NoVerify: noVerify})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := p.Execute(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		oursCPU += selfCPU() - cpu0
		r := rep.Results[0]
		if r.Err != nil || (!r.Verified && !noVerify) {
			b.Fatalf("write failed: %v", r.Err)
		}
		ours = append(ours, total-r.VerifyTime)
		verify = append(verify, r.VerifyTime)
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			runDD()
			runOurs()
		} else {
			runOurs()
			runDD()
		}
	}
	mbs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	o, d, v := stats(ours), stats(dd), stats(verify)
	b.ReportMetric(mbs(o.median), "ours-MiB/s")
	b.ReportMetric(mbs(d.median), "dd-MiB/s")
	b.ReportMetric(d.median.Seconds()/o.median.Seconds(), "ours/dd")
	b.ReportMetric(v.median.Seconds()/o.median.Seconds(), "verify/write")
	n := float64(len(ours))
	fmt.Fprintf(os.Stderr, "\n%d MiB, %d runs each (write = Prepare + write + fdatasync; verify separate)\n", mb, len(ours))
	fmt.Fprintf(os.Stderr, "  ours   min %v (%.0f MiB/s)  median %v (%.0f MiB/s)\n", o.min, mbs(o.min), o.median, mbs(o.median))
	fmt.Fprintf(os.Stderr, "  dd     min %v (%.0f MiB/s)  median %v (%.0f MiB/s)\n", d.min, mbs(d.min), d.median, mbs(d.median))
	fmt.Fprintf(os.Stderr, "  verify min %v  median %v  (median verify/write %.2f)\n", v.min, v.median, v.median.Seconds()/o.median.Seconds())
	fmt.Fprintf(os.Stderr, "  ratio ours/dd throughput: min-based %.2f, median-based %.2f\n", d.min.Seconds()/o.min.Seconds(), d.median.Seconds()/o.median.Seconds())
	// Process CPU only: the loop driver's copy runs in kernel threads.
	fmt.Fprintf(os.Stderr, "  CPU per run (user+sys): ours %.3fs incl. verify, dd %.3fs\n", oursCPU.Seconds()/n, ddCPU.Seconds()/n)
	fmt.Fprintf(os.Stderr, "  ours %v\n  dd   %v\n", ours, dd)
}

type durStats struct{ min, median time.Duration }

func stats(d []time.Duration) durStats {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return durStats{s[0], s[len(s)/2]}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
