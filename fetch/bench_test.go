package fetch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// BenchmarkFetchVsCurl downloads a 512 MiB file from nginx on loopback
// with Download (default workers and chunks) and, in alternation, with
// `curl -o`, both into /dev/shm (no disk in the way), and reports the
// median MB/s of each and their ratio (the target is ≥ 1). The machine
// is shared, so run with -benchtime 5x or more.
func BenchmarkFetchVsCurl(b *testing.B) {
	isotest.RequireTool(b, "curl")
	www := b.TempDir()
	const size = 512 << 20
	randomFile(b, filepath.Join(www, "big.iso"), size, 1)
	srv := nginxtest.Start(b, www)
	url := srv.URL("big.iso")
	out := b.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "fetchbench"); err == nil {
			out = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	// Page cache warm for both.
	exec.Command("cat", filepath.Join(www, "big.iso")).Run()
	var curl, ours []float64
	b.ResetTimer()
	for range b.N {
		dst := filepath.Join(out, "curl.iso")
		res, err := exec.Command("curl", "-s", "-o", dst, "-w", "%{speed_download}", url).Output()
		if err != nil {
			b.Fatalf("curl: %v", err)
		}
		bps, _ := strconv.ParseFloat(strings.TrimSpace(string(res)), 64)
		curl = append(curl, bps/1e6)
		os.Remove(dst)

		dst = filepath.Join(out, "ours.iso")
		src, err := httpsrc.Open(context.Background(), url, httpsrc.Options{OpenPrefetch: httpsrc.PinOnly, OpenTail: -1})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := Download(context.Background(), src, dst, Options{}); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, size/time.Since(start).Seconds()/1e6)
		src.Close()
		os.Remove(dst)
		b.SetBytes(size)
	}
	b.StopTimer()
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	b.ReportMetric(median(curl), "curl-MB/s")
	b.ReportMetric(median(ours), "fetch-MB/s")
	b.ReportMetric(median(ours)/median(curl), "ratio")
	b.Logf("curl MB/s %.0f; fetch MB/s %.0f", curl, ours)
}
