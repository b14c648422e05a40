package main

// `isofsd bench`: the performance targets of the project, measured in one
// run beside the usual alternatives. It builds (or takes) a many-small-files
// image and a big-files image, then times opening, a full metadata walk and
// a full extraction to tmpfs by isofsd, 7-Zip, bsdtar, xorriso and a plain
// `cat image > file`.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/isofmt"
)

type benchFlags struct {
	small, big      string
	workdir, outdir string
	files, dirs     int
	bigSize         int64
	runs            int
	skipBig         bool
	skipSmall       bool
	tools           string
	// self is the isofsd binary timed in the "isofsd" row (default: this one).
	self string
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure open, walk and extract speed against 7-Zip, bsdtar, xorriso and cat",
		Long: `bench builds two images with xorriso (or genisoimage) — one with --files small
files (0-3 KiB) in --dirs directories, one of --big-size bytes in a few large
files — unless --small-image / --big-image name existing ones, and prints a
table: time to open, to walk all metadata, and to extract everything to
--out (tmpfs by default) with isofsd, 7zz x, bsdtar, xorriso -osirrox and,
for reference, cat image > file. Each extraction runs --runs times; the best
time is shown. Project targets: open <= 10 ms, walk of 100 000 files
<= 0.3 s, extract of that image <= 2.0 s, big image <= 1.1 x cat.

Exit status: 0 ok (whether or not targets are met), 2 usage or a tool failed
to build an image.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.small, "small-image", "", "many-small-files image to use instead of building one")
	fl.StringVar(&f.big, "big-image", "", "big-files image to use instead of building one")
	fl.StringVar(&f.workdir, "workdir", "", "where to build and keep images for later runs (default: a temporary directory)")
	fl.StringVar(&f.outdir, "out", "/dev/shm", "where to extract (tmpfs is the reference)")
	fl.IntVar(&f.files, "files", 100000, "files in the built small-files image")
	fl.IntVar(&f.dirs, "dirs", 500, "directories in the built small-files image")
	sizeVar(fl, &f.bigSize, "big-size", 1800<<20, 1<<20, 1<<40, "file data in the built big image")
	fl.IntVar(&f.runs, "runs", 3, "runs per extraction (best is shown)")
	fl.BoolVar(&f.skipBig, "skip-big", false, "skip the big image")
	fl.BoolVar(&f.skipSmall, "skip-small", false, "skip the small-files image")
	fl.StringVar(&f.tools, "tools", "isofsd,7zz,bsdtar,xorriso,cat", "extractors to time, comma-separated")
	return cmd
}

// benchImage is one measured image and its results.
type benchImage struct {
	label   string
	path    string
	files   int
	bytes   int64
	open    time.Duration
	walk    time.Duration
	walkCPU time.Duration
	extract map[string]time.Duration
	// cpu is the user+system time of the best run: on a busy machine it
	// is steadier than wall time and shows the work each tool does.
	cpu  map[string]time.Duration
	errs map[string]string
}

func runBench(out, errw io.Writer, f benchFlags) error {
	if f.runs < 1 || f.files < 1 || f.dirs < 1 || f.bigSize < 1 {
		return withCode(exitUsage, errors.New("bench: --runs, --files, --dirs and --big-size must be positive"))
	}
	// Images built in a --workdir are kept and reused by later runs (their
	// names carry the parameters); a temporary workdir goes away.
	work, keep := f.workdir, f.workdir != ""
	if work == "" {
		d, err := os.MkdirTemp("", "isofsd-bench-")
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return withCode(exitUsage, err)
	}
	var imgs []*benchImage
	if !f.skipSmall {
		p := f.small
		if p == "" {
			p = filepath.Join(work, fmt.Sprintf("small-%d-%d.iso", f.files, f.dirs))
			if err := benchBuild(errw, p, keep, func() error { return buildSmallImage(work, p, f.files, f.dirs) }); err != nil {
				return withCode(exitUsage, err)
			}
			if !keep {
				defer os.Remove(p)
			}
		}
		imgs = append(imgs, &benchImage{label: "small files", path: p})
	}
	if !f.skipBig {
		p := f.big
		if p == "" {
			p = filepath.Join(work, fmt.Sprintf("big-%d.iso", f.bigSize))
			if err := benchBuild(errw, p, keep, func() error { return buildBigImage(work, p, f.bigSize) }); err != nil {
				return withCode(exitUsage, err)
			}
			if !keep {
				defer os.Remove(p)
			}
		}
		imgs = append(imgs, &benchImage{label: "big files", path: p})
	}
	self := f.self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return withCode(exitUsage, err)
		}
	}
	tools := strings.Split(f.tools, ",")
	for _, bi := range imgs {
		fmt.Fprintf(errw, "bench: measuring %s...\n", bi.path)
		if err := benchMeasure(bi, self, tools, f.outdir, f.runs); err != nil {
			return withCode(exitUsage, err)
		}
	}
	printBench(out, imgs, tools)
	return nil
}

// benchBuild runs build unless a kept image from an earlier run exists.
func benchBuild(errw io.Writer, p string, reuse bool, build func() error) error {
	if reuse {
		if _, err := os.Stat(p); err == nil {
			fmt.Fprintf(errw, "bench: reusing %s\n", p)
			return nil
		}
	}
	fmt.Fprintf(errw, "bench: building %s...\n", p)
	if err := build(); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// benchRand is a fast deterministic byte source for test data.
func benchRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func buildSmallImage(work, out string, files, dirs int) error {
	src := filepath.Join(work, "small-src")
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	defer os.RemoveAll(src)
	rng := benchRand(1)
	pick := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3072)
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(src, fmt.Sprintf("d%03d", d)), 0o755); err != nil {
			return err
		}
	}
	for i := range files {
		n := pick.IntN(len(buf) + 1)
		rng.Read(buf[:n])
		p := filepath.Join(src, fmt.Sprintf("d%03d", i%dirs), fmt.Sprintf("file-%06d.dat", i))
		if err := os.WriteFile(p, buf[:n], 0o644); err != nil {
			return err
		}
	}
	return mkisofs(src, out, "BENCH_SMALL")
}

func buildBigImage(work, out string, size int64) error {
	src := filepath.Join(work, "big-src")
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	// A few large files of unequal size, as an installer image has.
	parts := []int64{size * 55 / 100, size * 30 / 100}
	parts = append(parts, size-parts[0]-parts[1])
	rng := benchRand(2)
	buf := make([]byte, 4<<20)
	for i, n := range parts {
		f, err := os.Create(filepath.Join(src, fmt.Sprintf("big-%d.bin", i)))
		if err != nil {
			return err
		}
		for left := n; left > 0; {
			b := buf[:min(left, int64(len(buf)))]
			rng.Read(b)
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(b))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return mkisofs(src, out, "BENCH_BIG")
}

// mkisofs builds a Rock Ridge + Joliet image of dir with xorriso, or
// genisoimage when xorriso is missing.
func mkisofs(dir, out, label string) error {
	var cmd *exec.Cmd
	if p, err := exec.LookPath("xorriso"); err == nil {
		cmd = exec.Command(p, "-as", "mkisofs", "-quiet", "-R", "-J", "-V", label, "-o", out, dir)
	} else if p, err := exec.LookPath("genisoimage"); err == nil {
		cmd = exec.Command(p, "-quiet", "-R", "-J", "-V", label, "-o", out, dir)
	} else {
		return errors.New("bench: neither xorriso nor genisoimage is installed (apt-get install xorriso)")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: %s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	return nil
}

// benchWalk opens the image and reads every directory and entry once.
func benchWalk(path string) (files int, bytes int64, err error) {
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		return 0, 0, err
	}
	defer img.Close()
	root, err := img.Root()
	if err != nil {
		return 0, 0, err
	}
	var walk func(n *isofmt.Node) error
	walk = func(n *isofmt.Node) error {
		kids, err := img.ReadDirNode(n)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if k.IsDir() {
				if err := walk(k); err != nil {
					return err
				}
				continue
			}
			files++
			bytes += k.Stat.Size
		}
		return nil
	}
	return files, bytes, walk(root)
}

func benchMeasure(bi *benchImage, self string, tools []string, outdir string, runs int) error {
	// Warm the page cache so every tool reads from memory, as cat does.
	if err := catTo(bi.path, io.Discard); err != nil {
		return err
	}
	var opens []time.Duration
	for range 20 {
		t := time.Now()
		img, err := isofmt.OpenFile(bi.path, nil)
		if err != nil {
			return err
		}
		opens = append(opens, time.Since(t))
		img.Close()
	}
	bi.open = median(opens)
	var walks, walkCPU []time.Duration
	for range max(runs, 3) {
		t, c := time.Now(), selfCPU()
		n, b, err := benchWalk(bi.path)
		if err != nil {
			return err
		}
		walks, walkCPU = append(walks, time.Since(t)), append(walkCPU, selfCPU()-c)
		bi.files, bi.bytes = n, b
	}
	bi.walk, bi.walkCPU = median(walks), median(walkCPU)
	bi.extract, bi.cpu, bi.errs = map[string]time.Duration{}, map[string]time.Duration{}, map[string]string{}
	// Round-robin over the tools, so a change in machine load hits every
	// tool alike; the best run of each counts.
	for range runs {
		for _, tool := range tools {
			if bi.errs[tool] != "" {
				continue
			}
			d, cpu, err := benchExtract(tool, self, bi.path, outdir)
			if err != nil {
				bi.errs[tool] = err.Error()
				continue
			}
			if old, ok := bi.extract[tool]; !ok || d < old {
				bi.extract[tool], bi.cpu[tool] = d, cpu
			}
		}
	}
	return nil
}

func catTo(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// benchExtract times one full extraction by tool into a fresh directory.
func benchExtract(tool, self, img, outdir string) (wall, cpu time.Duration, err error) {
	dst, err := os.MkdirTemp(outdir, "isofsd-bench-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dst)
	var cmd *exec.Cmd
	switch tool {
	case "isofsd":
		cmd = exec.Command(self, "extract", img, "-C", dst)
	case "7zz":
		cmd = exec.Command("7zz", "x", "-y", "-bd", "-o"+dst, img)
	case "bsdtar":
		cmd = exec.Command("bsdtar", "-xf", img, "-C", dst)
	case "xorriso":
		cmd = exec.Command("xorriso", "-osirrox", "on", "-indev", img, "-extract", "/", dst)
	case "cat":
		out, err := os.Create(filepath.Join(dst, "image"))
		if err != nil {
			return 0, 0, err
		}
		defer out.Close()
		cmd = exec.Command("cat", img)
		cmd.Stdout = out
	default:
		return 0, 0, fmt.Errorf("unknown tool %q", tool)
	}
	if _, err := exec.LookPath(cmd.Path); err != nil {
		return 0, 0, fmt.Errorf("not installed")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t := time.Now()
	err = cmd.Run()
	d := time.Since(t)
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, lastLine(stderr.String()))
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func printBench(w io.Writer, imgs []*benchImage, tools []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	head := []string{"measurement"}
	for _, bi := range imgs {
		head = append(head, fmt.Sprintf("%s: %d files, %.1f MB", bi.label, bi.files, float64(bi.bytes)/1e6))
	}
	row(head...)
	cells := func(name string, f func(*benchImage) string) {
		c := []string{name}
		for _, bi := range imgs {
			c = append(c, f(bi))
		}
		row(c...)
	}
	cells("open", func(bi *benchImage) string { return fmtDur(bi.open) })
	cells("metadata walk", func(bi *benchImage) string { return fmtDur(bi.walk) + " cpu " + fmtDur(bi.walkCPU) })
	for _, tool := range tools {
		cells("extract: "+tool, func(bi *benchImage) string {
			d, ok := bi.extract[tool]
			if !ok {
				return "n/a (" + bi.errs[tool] + ")"
			}
			s := fmtDur(d) + " cpu " + fmtDur(bi.cpu[tool])
			if ours, ok := bi.extract["isofsd"]; ok && tool != "isofsd" {
				s += fmt.Sprintf(" (isofsd %.2fx)", float64(ours)/float64(d))
			}
			if tool != "cat" && d > 0 {
				s += fmt.Sprintf(" %4.0f MB/s", float64(bi.bytes)/1e6/d.Seconds())
			}
			return s
		})
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, bi := range imgs {
		fmt.Fprintf(w, "%s (%s):\n", bi.label, bi.path)
		check := func(what string, ok bool) {
			verdict := "MET"
			if !ok {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "  target %-40s %s\n", what, verdict)
		}
		check("open <= 10 ms", bi.open <= 10*time.Millisecond)
		if bi.files >= 10000 {
			perFile := float64(bi.walk) / float64(bi.files)
			check("walk <= 0.3 s per 100 000 files", perFile*100000 <= float64(300*time.Millisecond))
			if d, ok := bi.extract["isofsd"]; ok {
				check("extract <= 2.0 s per 100 000 files", float64(d)/float64(bi.files)*100000 <= float64(2*time.Second))
			}
		}
		if c, ok := bi.extract["cat"]; ok && bi.files < 100 {
			if d, ok := bi.extract["isofsd"]; ok {
				check("extract <= 1.1 x cat ("+strconv.FormatFloat(float64(d)/float64(c), 'f', 2, 64)+" x)", float64(d) <= 1.1*float64(c))
			}
		}
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f us", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}
