package main

// `isofsd devices` and `isofsd write`: the CLI side of package writer.
// Flags become writer.Options; confirmation, progress display and the
// exit code live here.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/writer"
)

func newDevicesCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List drives an image could be written to, and why others are refused",
		Long: `List whole drives with size, model, serial, transport (usb, mmc, sata, nvme,
virtual, loop), removable and read-only flags and mounted partitions, each with
the verdict "eligible" or the reason it is not. Only USB, MMC and removable
drives are eligible; mounted, swap, system and read-only drives never are.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			devs, err := writer.ListDevices(nil)
			if err != nil {
				return withCode(exitUsage, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSONList(out, devs)
			}
			printDevices(out, devs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printDevices(out io.Writer, devs []*writer.Device) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSIZE\tTRANSPORT\tMODEL\tSERIAL\tRM\tRO\tMOUNTED\tVERDICT")
	for _, d := range devs {
		var mounts []string
		for _, m := range d.Mounts {
			mounts = append(mounts, m.Device+"@"+m.MountPoint)
		}
		mounts = append(mounts, d.Swaps...)
		model := strings.TrimSpace(d.Vendor + " " + d.Model)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, units.Bytes(d.Size), d.Transport,
			orDash(model), orDash(d.Serial), yesNo(d.Removable), yesNo(d.ReadOnly), orDash(strings.Join(mounts, ",")), d.Verdict())
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type writeFlags struct {
	yes, force, allowLoop, noVerify, toFile bool
	// expect holds TARGET=ID pairs (--expect-drive).
	expect               []string
	bs                   int64
	mode, partitionTable string
	// Testing aids (hidden flags): split small WIMs into small parts.
	wimPartSize, splitWIMAbove int64
}

func newWriteCmd(a *app) *cobra.Command {
	var f writeFlags
	cmd := &cobra.Command{
		Use:   "write SOURCE TARGET...",
		Short: "Write an image to USB/SD drives (or files) safely, and verify it",
		Long: `Write SOURCE (an image file, "-" for stdin, or a .gz/.bz2/.xz/.zst file,
recognised by content) to every TARGET at once: block devices, or files.

Targets must be USB, MMC or removable drives; --force lifts that one rule, and
--allow-loop admits loop devices (file-backed, used for testing and VM disks).
A target that is mounted, used as swap, holds the running system or the source
image, is read-only or is smaller than the image is always refused, and so is
one with a device stacked on it (device-mapper, md, a loop device backed by
it) that is mounted or in use. Files are targets only with --to-file (or
--force, to overwrite one), never the source itself nor a file that backs a
loop device in use.

--mode chooses how the image goes on the drive (default auto):
  raw    a byte-for-byte copy: what boots for isohybrid images (an MBR or GPT
         in the system area, as Linux distributions make them);
  files  a GPT (or --partition-table mbr) with one FAT32 partition holding the
         image's files (its UDF tree on Windows media), for images that do not
         boot when copied raw: Windows installers and other UEFI images without
         a hybrid partition table. A sources/install.wim over 4 GiB - 1 is split
         into install.swm, install2.swm, ... (Windows Setup reads them); any
         other file too large for FAT32 is refused by name. The drive boots by
         UEFI (legacy-BIOS boot of Windows from FAT32 is not offered).
  auto   files for such images, raw for everything else.
The choice and its reason are shown before confirmation.

Everything is read back and compared after writing unless --no-verify (in
file-copy mode: the tables block by block, then every file by SHA-256).
Exit status: 0 all targets written (and verified), 1 some target failed,
2 refused or bad usage.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWrite(cmd, a, f, args[0], args[1:])
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (for scripts)")
	fl.BoolVar(&f.force, "force", false, "allow drives that are not USB/MMC/removable (never mounted, system or too small ones)")
	fl.BoolVar(&f.allowLoop, "allow-loop", false, "allow loop devices as targets")
	fl.BoolVar(&f.noVerify, "no-verify", false, "do not read the targets back")
	fl.BoolVar(&f.toFile, "to-file", false, "targets may be image files: create them, or overwrite existing ones")
	sizeVar(fl, &f.bs, "bs", writer.DefaultBlockSize, 4096, 1<<30, "I/O block size (a multiple of 4 KiB)")
	fl.StringArrayVar(&f.expect, "expect-drive", nil, "TARGET=ID: refuse TARGET unless it is the drive with this identity (what desktop write-usb passes for the drive picked; repeatable)")
	enumVar(fl, &f.mode, "mode", "auto", []string{"auto", "raw", "files"}, "how to write: auto, raw (byte copy) or files (FAT32 file copy, for Windows and other non-hybrid UEFI images)")
	enumVar(fl, &f.partitionTable, "partition-table", "gpt", []string{"gpt", "mbr"}, "file-copy mode: gpt, or mbr for old firmware")
	sizeVar(fl, &f.wimPartSize, "wim-part-size", 0, 4096, 4<<30-1, "file-copy mode: largest .swm part (testing aid)")
	sizeVar(fl, &f.splitWIMAbove, "split-wim-above", 0, 4096, 4<<30-1, "file-copy mode: split install.wim from this size on (testing aid)")
	fl.MarkHidden("wim-part-size")
	fl.MarkHidden("split-wim-above")
	return cmd
}

func runWrite(cmd *cobra.Command, a *app, f writeFlags, source string, targets []string) error {
	mode, err := writer.ParseMode(f.mode)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("--mode: %w", err))
	}
	fc := writer.FileCopyOptions{PartitionTable: f.partitionTable, WIMPartSize: f.wimPartSize, SplitAbove: f.splitWIMAbove}
	expect, err := parseExpectDrives(f.expect)
	if err != nil {
		return withCode(exitUsage, err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	out := cmd.OutOrStdout()
	view := newProgressView(cmd.ErrOrStderr(), a)
	opts := writer.Options{
		Policy:    writer.Policy{Force: f.force, AllowLoop: f.allowLoop},
		BlockSize: int(f.bs),
		NoVerify:  f.noVerify,
		ToFile:    f.toFile,
		Stdin:     cmd.InOrStdin(),
		Log:       userLog{a},
		Progress:  view.update,
		Mode:      mode,
		FileCopy:  fc,
		Expect:    expect,
	}
	plan, err := writer.Prepare(source, targets, opts)
	if err != nil {
		return withCode(exitUsage, err)
	}
	describePlan(out, plan)
	for _, w := range plan.Image.Warnings {
		a.log.Debugf("%s: %s", source, w)
	}
	if err := plan.Err(); err != nil {
		plan.Close()
		return withCode(exitUsage, err)
	}
	if !f.yes && needsConfirmation(plan) {
		ok, err := confirm(cmd, plan, source == "-")
		if err != nil {
			plan.Close()
			return withCode(exitUsage, err)
		}
		if !ok {
			plan.Close()
			return withCode(exitUsage, errors.New("not confirmed; nothing written"))
		}
	}
	view.start(plan)
	rep, err := plan.Execute(ctx)
	view.stop()
	if err != nil {
		return withCode(exitUsage, err)
	}
	return reportWrite(out, rep, f.noVerify)
}

// parseExpectDrives reads --expect-drive TARGET=ID values.
func parseExpectDrives(vals []string) (map[string]writer.Identity, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := map[string]writer.Identity{}
	for _, v := range vals {
		i := strings.LastIndexByte(v, '=')
		if i <= 0 {
			return nil, fmt.Errorf("--expect-drive %q: want TARGET=ID", v)
		}
		id, err := writer.ParseIdentity(v[i+1:])
		if err != nil {
			return nil, fmt.Errorf("--expect-drive: %w", err)
		}
		out[v[:i]] = id
	}
	return out, nil
}

func describePlan(out io.Writer, p *writer.Plan) {
	src := p.Source
	size := "size unknown until the end of the stream"
	if src.Size >= 0 {
		size = fmt.Sprintf("%s (%d bytes)", units.Bytes(src.Size), src.Size)
	}
	comp := ""
	if src.Compression != writer.CompressionNone {
		comp = ", " + string(src.Compression) + "-compressed"
	}
	fmt.Fprintf(out, "source: %s%s, %s\n", src.Name, comp, size)
	fmt.Fprintf(out, "image:  %s\n", p.Image.Summary())
	describeMode(out, p)
	for _, pr := range p.ImageProblems {
		fmt.Fprintf(out, "refused: %s\n", pr.Detail)
	}
	for _, t := range p.Targets {
		verdict := "ok"
		if len(t.Problems) > 0 {
			var s []string
			for _, pr := range t.Problems {
				s = append(s, pr.String())
			}
			verdict = "REFUSED: " + strings.Join(s, "; ")
		}
		fmt.Fprintf(out, "target: %s — %s\n", t.Describe(), verdict)
	}
}

// needsConfirmation: anything that destroys data (a drive, an existing
// file) is confirmed; creating a new file is not.
func needsConfirmation(p *writer.Plan) bool {
	for _, t := range p.Targets {
		if t.Device != nil {
			return true
		}
		if _, err := os.Stat(t.Path); err == nil {
			return true
		}
	}
	return false
}

// confirm asks for "yes" before the targets are overwritten.
func confirm(cmd *cobra.Command, p *writer.Plan, stdinIsSource bool) (bool, error) {
	var items []string
	for _, t := range p.Targets {
		items = append(items, t.Describe())
	}
	return askYes(cmd, "ALL DATA ON THESE TARGETS WILL BE DESTROYED:", items, stdinIsSource)
}

// askYes shows header and items and asks for "yes". The answer is read
// from stdin when it is a terminal (or a reader set by a caller); when
// stdin carries data (stdinIsData), or is a redirected file, it must come
// from the controlling terminal instead, never from the data.
func askYes(cmd *cobra.Command, header string, items []string, stdinIsData bool) (bool, error) {
	in := cmd.InOrStdin()
	prompt := cmd.ErrOrStderr()
	// With --log-format json stderr carries only JSON records: a prompt
	// there would never show, so it goes to the terminal.
	_, jsonStderr := prompt.(*jsonLines)
	if f, isFile := in.(*os.File); stdinIsData || jsonStderr || (isFile && !term.IsTerminal(int(f.Fd()))) {
		tty, ttyOut, err := openTTY(prompt)
		if err != nil {
			return false, errors.New("confirmation needed but there is no terminal to ask on: pass --yes to go ahead without asking")
		}
		defer tty.Close()
		in, prompt = tty, ttyOut
	}
	fmt.Fprintln(prompt, header)
	for _, it := range items {
		fmt.Fprintf(prompt, "  %s\n", it)
	}
	fmt.Fprint(prompt, "Type 'yes' to continue: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	return strings.TrimSpace(strings.ToLower(line)) == "yes", nil
}

func reportWrite(out io.Writer, rep *writer.Report, noVerify bool) error {
	for _, r := range rep.Results {
		if r.Err != nil {
			fmt.Fprintf(out, "FAILED  %s: %v\n", r.Target, r.Err)
			continue
		}
		rate := ""
		if r.WriteTime > 0 {
			rate = fmt.Sprintf(", %s/s", units.Bytes(int64(float64(r.Written)/r.WriteTime.Seconds())))
		}
		status := "written and verified"
		if noVerify {
			status = "written, not verified (--no-verify)"
		} else if r.FilesVerified > 0 {
			status = fmt.Sprintf("written and verified (%d files compared with the image)", r.FilesVerified)
		}
		fmt.Fprintf(out, "OK      %s: %s %s in %v%s", r.Target, status, units.Bytes(r.Written), r.WriteTime.Round(time.Millisecond), rate)
		if r.Verified {
			fmt.Fprintf(out, "; verify %v", r.VerifyTime.Round(time.Millisecond))
		}
		if !r.Direct {
			fmt.Fprint(out, " (buffered I/O)")
		}
		fmt.Fprintln(out)
	}
	if m := rep.ImplantedMD5; m != nil {
		if m.OK {
			fmt.Fprintf(out, "implanted MD5 (isomd5sum) on %s: matches %s\n", m.Target, m.Expected)
		} else {
			fmt.Fprintf(out, "implanted MD5 (isomd5sum) on %s: MISMATCH: image says %s, read back %s\n", m.Target, m.Expected, m.Got)
		}
	}
	if n := rep.Failed(); n > 0 {
		return withCode(exitDamaged, fmt.Errorf("%d of %d targets failed", n, len(rep.Results)))
	}
	if m := rep.ImplantedMD5; m != nil && !m.OK {
		return withCode(exitDamaged, errors.New("the implanted MD5 does not match"))
	}
	return nil
}

// progressView shows per-target progress: bars when stderr is a terminal,
// a message line every logEvery otherwise.
type progressView struct {
	mu      sync.Mutex
	out     io.Writer
	a       *app
	tty     bool
	bars    map[string]*progressbar.ProgressBar
	phase   map[string]writer.Phase
	order   []string
	lastLog map[string]time.Time
	drawn   int
	done    chan struct{}
	wg      sync.WaitGroup
}

const logEvery = 10 * time.Second

func newProgressView(out io.Writer, a *app) *progressView {
	v := &progressView{out: out, a: a, bars: map[string]*progressbar.ProgressBar{},
		phase: map[string]writer.Phase{}, lastLog: map[string]time.Time{}}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.tty = true
	}
	return v
}

func (v *progressView) start(p *writer.Plan) {
	v.mu.Lock()
	for _, t := range p.Targets {
		v.order = append(v.order, t.Path)
		if v.tty {
			// Bars start now, so rates count from the start of writing.
			total, what := p.Source.Size, ""
			if total < 0 && p.Source.InputSize > 0 {
				total, what = p.Source.InputSize, " (compressed input)"
			}
			v.bars[t.Path] = v.newBar(t.Path, writer.PhaseWrite, total, what)
			v.phase[t.Path] = writer.PhaseWrite
		}
	}
	v.mu.Unlock()
	if !v.tty {
		return
	}
	v.done = make(chan struct{})
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				v.redraw()
			case <-v.done:
				v.redraw()
				return
			}
		}
	}()
}

func (v *progressView) stop() {
	if v.done != nil {
		close(v.done)
		v.wg.Wait()
	}
}

// newBar makes a bar that renders into a string; redraw places all bars.
func (v *progressView) newBar(target string, phase writer.Phase, max int64, what string) *progressbar.ProgressBar {
	b := newBar(io.Discard, max, fmt.Sprintf("%-7s %s%s", phase, target, what),
		progressbar.OptionUseIECUnits(true), progressbar.OptionShowElapsedTimeOnFinish())
	return b
}

func (v *progressView) update(p writer.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	changed := v.phase[p.Target] != p.Phase
	v.phase[p.Target] = p.Phase
	if !v.tty {
		v.logLine(p, changed)
		return
	}
	if p.Phase == writer.PhaseFailed || p.Phase == writer.PhaseDone || p.Phase == writer.PhaseSync {
		if b := v.bars[p.Target]; b != nil && p.Phase != writer.PhaseFailed {
			b.Describe(fmt.Sprintf("%-7s %s", p.Phase, p.Target))
			if b.GetMax64() > 0 {
				b.Set64(b.GetMax64())
			}
		}
		return
	}
	// Progress on compressed input when the image size is unknown.
	done, total, what := p.Done, p.Total, ""
	if total < 0 && p.InputTotal > 0 {
		done, total, what = p.InputDone, p.InputTotal, " (compressed input)"
	}
	b := v.bars[p.Target]
	if b == nil || changed {
		b = v.newBar(p.Target, p.Phase, total, what)
		v.bars[p.Target] = b
	}
	b.Set64(done)
}

func (v *progressView) logLine(p writer.Progress, changed bool) {
	now := time.Now()
	if !changed && now.Sub(v.lastLog[p.Target]) < logEvery {
		return
	}
	v.lastLog[p.Target] = now
	switch {
	case p.Phase == writer.PhaseFailed:
		// reported in the summary
	case p.Total > 0:
		v.a.notef("%s: %s: %s of %s (%d%%)", p.Target, p.Phase, units.Bytes(p.Done), units.Bytes(p.Total), p.Done*100/p.Total)
	case p.InputTotal > 0:
		v.a.notef("%s: %s: %s (%d%% of the compressed input)", p.Target, p.Phase, units.Bytes(p.Done), p.InputDone*100/p.InputTotal)
	default:
		v.a.notef("%s: %s: %s", p.Target, p.Phase, units.Bytes(p.Done))
	}
}

// redraw repaints every bar in place: the cursor goes back up over the
// lines drawn last time (progressbar itself handles one line only).
func (v *progressView) redraw() {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	n := 0
	for _, t := range v.order {
		bar := v.bars[t]
		if bar == nil {
			continue
		}
		line := bar.String()
		if v.phase[t] == writer.PhaseFailed {
			line = fmt.Sprintf("%-7s %s", "FAILED", t)
		}
		fmt.Fprintf(&b, "\r\x1b[2K%s\n", line)
		n++
	}
	v.drawn = n
	io.WriteString(v.out, b.String())
}

// openTTY opens the controlling terminal for the confirmation prompt:
// /dev/tty on Unix; on Windows the console input, with the prompt on
// stderr.
func openTTY(stderr io.Writer) (io.ReadCloser, io.Writer, error) {
	if runtime.GOOS == "windows" {
		f, err := os.Open("CONIN$")
		return f, stderr, err
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}
