package main

// `isofsd drives` and `isofsd burn`: the CLI side of package burn. Flags
// become burn.Options; confirmation, progress display and exit codes live
// here.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isofsd/isofsd/burn"
	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/recover"
)

func newDrivesCmd(a *app) *cobra.Command {
	var asJSON bool
	var engine string
	cmd := &cobra.Command{
		Use:   "drives [DRIVE...]",
		Short: "List optical drives and the discs in them",
		Long: `List CD/DVD/BD drives with vendor and model, what they can write, and the
disc each holds: its type (CD-R, DVD+RW, BD-R...), whether it is blank,
appendable or closed, free space and capacity, and the write speeds the
drive offers for it. Drives in use (mounted, or held by another program)
say so.

With DRIVE arguments only those are shown; stdio:PATH shows a libburn
pseudo-drive (a file or block device posing as a drive).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			e, err := burn.NewEngine(engine)
			if err != nil {
				if !errors.Is(err, burn.ErrNoEngine) || (engine != "" && engine != "auto") {
					return withCode(exitUsage, err)
				}
				a.warnf("%v: drives are listed without their discs", err)
				e = nil
			}
			var drives []*burn.Drive
			if len(args) > 0 {
				for _, p := range args {
					d, err := burn.InspectDrive(ctx, e, p)
					if err != nil {
						return withCode(exitUsage, err)
					}
					drives = append(drives, d)
				}
			} else {
				drives, err = burn.ListDrives(ctx, e)
				if err != nil && len(drives) == 0 {
					return withCode(exitUsage, err)
				}
				if err != nil {
					a.warnf("listing drives: %v", err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSONList(out, drives)
			}
			if len(drives) == 0 {
				fmt.Fprintln(out, "no optical drives found")
				return nil
			}
			printDrives(out, drives)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&engine, "engine", "auto", "burn engine: "+strings.Join(append([]string{"auto"}, burn.EngineNames()...), ", "))
	return cmd
}

func printDrives(out io.Writer, drives []*burn.Drive) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRIVE\tMODEL\tWRITES\tDISC\tSTATE\tFREE\tCAPACITY\tWRITE SPEEDS\tNOTE")
	for _, d := range drives {
		disc, state, free, capacity, speeds := "-", "-", "-", "-", "-"
		if m := d.Media; m != nil {
			state = string(m.State)
			if m.Present {
				disc = orDash(m.Type)
				if m.Class != "" {
					disc += " (" + string(m.Class) + ")"
				}
				if m.Free >= 0 {
					free = units.Bytes(m.Free)
				}
				if m.Capacity >= 0 {
					capacity = units.Bytes(m.Capacity)
				}
				var s []string
				for _, sp := range m.WriteSpeeds {
					s = append(s, sp.String())
				}
				speeds = orDash(strings.Join(s, ", "))
			}
		}
		note := "-"
		switch {
		case d.Busy != "":
			note = "in use: " + d.Busy
		case d.MediaErr != "":
			note = d.MediaErr
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, d.Name(), orDash(strings.Join(d.Writes, ",")),
			disc, state, free, capacity, speeds, note)
	}
	tw.Flush()
}

type burnFlags struct {
	speed                                        int
	dummy, noVerify, verifyOnly, eject, blank, y bool
	asJSON                                       bool
	engine                                       string
}

func newBurnCmd(a *app) *cobra.Command {
	var f burnFlags
	cmd := &cobra.Command{
		Use:   "burn IMAGE [DRIVE]",
		Short: "Burn an image to a CD/DVD/BD and verify the disc reads back exactly",
		Long: `Burn IMAGE to the disc in DRIVE (/dev/sr0; stdio:PATH for a libburn
pseudo-drive), or to the one drive holding a suitable disc when DRIVE is
left out, close the disc, then read it back over exactly the image's length
and compare: SHA-256 of both, and the isomd5sum checksum implanted in the
image (the verdict checkisomd5 gives). Bad sectors are named by the files
they hit.

Refused: write-once discs (CD-R, DVD±R, BD-R) that are not blank, discs
smaller than the image, read-only discs, drives that are mounted or held
by another program. Rewritable discs (CD-RW, DVD±RW, DVD-RAM, BD-RE) that
hold data are erased only with --blank, after confirmation.

The engine that writes: libburn (xorriso or cdrskin) on Linux, hdiutil on
macOS, IMAPI2 on Windows.

Exit status: 0 burned and verified (or simulated), 1 the burn failed or was
interrupted, or the disc does not match, 2 refused or bad usage.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			drive := ""
			if len(args) == 2 {
				drive = args[1]
			}
			return runBurn(cmd, a, f, args[0], drive)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.speed, "speed", 0, "write speed as a multiple of the disc's 1x (0: the drive's choice)")
	fl.BoolVar(&f.dummy, "dummy", false, "simulate: the laser stays off, nothing is written (where the drive supports it)")
	fl.BoolVar(&f.noVerify, "no-verify", false, "do not read the disc back")
	fl.BoolVar(&f.verifyOnly, "verify-only", false, "write nothing: read back a disc burned earlier and compare it with IMAGE")
	fl.BoolVar(&f.eject, "eject", false, "eject the disc when done")
	fl.BoolVar(&f.blank, "blank", false, "erase a rewritable disc that holds data before writing")
	fl.BoolVarP(&f.y, "yes", "y", false, "do not ask before erasing a disc")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fl.StringVar(&f.engine, "engine", "auto", "burn engine: "+strings.Join(append([]string{"auto"}, burn.EngineNames()...), ", "))
	return cmd
}

func runBurn(cmd *cobra.Command, a *app, f burnFlags, image, drive string) error {
	if f.speed < 0 {
		return withCode(exitUsage, fmt.Errorf("--speed %d: want a positive multiple of 1x, or 0", f.speed))
	}
	if f.verifyOnly && (f.dummy || f.blank || f.noVerify) {
		return withCode(exitUsage, errors.New("--verify-only writes nothing: it does not go with --dummy, --blank or --no-verify"))
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	e, err := burn.NewEngine(f.engine)
	if err != nil {
		return withCode(exitUsage, err)
	}
	view := newBurnView(cmd.ErrOrStderr(), a)
	plan, err := burn.Prepare(ctx, burn.Options{
		Image: image, Drive: drive, Speed: f.speed, Dummy: f.dummy, Blank: f.blank,
		NoVerify: f.noVerify, VerifyOnly: f.verifyOnly, Eject: f.eject, Engine: e, Progress: view.update,
	})
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer plan.Close()
	out := cmd.OutOrStdout()
	if !f.asJSON {
		describeBurn(out, plan, f)
	}
	if err := plan.Err(); err != nil {
		return withCode(exitUsage, err)
	}
	if plan.Erases() && !f.y {
		ok, err := askYes(cmd, "THE DISC WILL BE ERASED; EVERYTHING ON IT IS LOST:", []string{plan.Drive.Describe()}, false)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if !ok {
			return withCode(exitUsage, errors.New("not confirmed; nothing written"))
		}
	}
	rep, err := plan.Execute(ctx)
	view.finish()
	if rep != nil && f.asJSON {
		if jerr := writeJSON(out, rep); jerr != nil {
			return withCode(exitInternal, jerr)
		}
	}
	if err != nil {
		var ee *burn.EngineError
		if errors.Is(err, burn.ErrUnsupported) || errors.Is(err, burn.ErrRefused) {
			return withCode(exitUsage, fmt.Errorf("%s: %w", plan.Drive.Path, err)) // nothing was written
		}
		if errors.As(err, &ee) {
			if ee.Busy && !ee.Started {
				return withCode(exitUsage, fmt.Errorf("%s: %w", plan.Drive.Path, err))
			}
			return withCode(exitDamaged, fmt.Errorf("%s: %w", plan.Drive.Path, err))
		}
		if ctx.Err() != nil {
			return withCode(exitDamaged, fmt.Errorf("%s: interrupted: %w", plan.Drive.Path, err))
		}
		return withCode(exitDamaged, err)
	}
	if !f.asJSON {
		reportBurn(out, plan, rep)
	}
	if v := rep.Verify; v != nil && v.Verdict != burn.VerdictOK {
		return withCode(exitDamaged, fmt.Errorf("%s: the disc does not match the image", plan.Drive.Path))
	}
	return nil
}

// describeBurn says what is about to happen. A refused plan's problems
// are not listed here: the final error line lists them, once (review U2).
func describeBurn(out io.Writer, p *burn.Plan, f burnFlags) {
	fmt.Fprintf(out, "image:  %s (%s, %d bytes)\n", p.Image, units.Bytes(p.Size), p.Size)
	fmt.Fprintf(out, "drive:  %s\n", p.Drive.Describe())
	if len(p.Problems) > 0 || f.verifyOnly {
		return
	}
	var how []string
	if f.speed > 0 {
		how = append(how, fmt.Sprintf("speed %dx", f.speed))
	} else {
		how = append(how, "the drive's speed")
	}
	if f.dummy {
		how = append(how, "SIMULATION (nothing is written)")
	}
	if p.Erases() {
		how = append(how, "erasing the disc first")
	}
	if p.NoPad {
		how = append(how, "without track padding (the image fills the disc)")
	}
	how = append(how, "closing the disc")
	fmt.Fprintf(out, "burn:   %s\n", strings.Join(how, ", "))
}

func reportBurn(out io.Writer, p *burn.Plan, rep *burn.Report) {
	if rep.Burned {
		rate := ""
		if s := rep.WriteTime.Seconds(); s > 0 {
			rate = fmt.Sprintf(", %s/s", units.Bytes(int64(float64(rep.Size)/s)))
		}
		fmt.Fprintf(out, "burned: %s in %v%s (%s)\n", units.Bytes(rep.Size), rep.WriteTime.Round(time.Millisecond), rate, rep.Engine)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(out, "note:   %s\n", n)
	}
	v := rep.Verify
	if v == nil {
		if !rep.Dummy {
			fmt.Fprintln(out, "verify: skipped (--no-verify): the disc was not read back")
		}
		return
	}
	if v.Match {
		fmt.Fprintf(out, "verify: the disc matches the image over all %d bytes: sha256 %s (%v)\n", v.Size, v.DiscSHA256, rep.VerifyTime.Round(time.Millisecond))
	} else {
		fmt.Fprintf(out, "verify: THE DISC DOES NOT MATCH THE IMAGE (image sha256 %s)\n", v.ImageSHA256)
		if n := rangeBytes(v.Differ); n > 0 {
			fmt.Fprintf(out, "verify: %d bytes in %d places read back differently, first at byte %d\n", n, len(v.Differ), v.Differ[0].Offset)
		}
		if n := rangeBytes(v.Unreadable); n > 0 {
			fmt.Fprintf(out, "verify: %d bytes in %d places could not be read, first at byte %d\n", n, len(v.Unreadable), v.Unreadable[0].Offset)
		}
		if v.GaveUp != "" {
			fmt.Fprintf(out, "verify: %s\n", v.GaveUp)
			if !p.Drive.Pseudo {
				fmt.Fprintf(out, "verify: if the system still sees the disc as it was before the burn, eject and reinsert it, then run: isofsd burn --verify-only %s %s\n", p.Image, p.Drive.Path)
			}
		}
	}
	if m := v.MD5; m != nil {
		switch {
		case m.OK:
			fmt.Fprintf(out, "verify: implanted MD5 (isomd5sum) on the disc: ok, %s\n", m.Expected)
		case m.FirstBadFragment >= 0:
			fmt.Fprintf(out, "verify: implanted MD5 (isomd5sum) on the disc: FAILED at fragment %d (checkisomd5 would say FAIL)\n", m.FirstBadFragment+1)
		case m.Err != "":
			fmt.Fprintf(out, "verify: implanted MD5 (isomd5sum) on the disc: not computed: %s\n", m.Err)
		default:
			fmt.Fprintf(out, "verify: implanted MD5 (isomd5sum) on the disc: FAILED: computed %s, implanted %s\n", m.Computed, m.Expected)
		}
		if m.OK != v.Match && v.Match {
			fmt.Fprintln(out, "verify: the disc is a faithful copy of the image, but the image fails its own implanted MD5: the image was damaged before it was burned")
		}
	}
	if d := v.Files; d != nil {
		// The files on bad ranges, as verify lists them (names from the
		// image pass through termSafe there).
		printFileDamage(out, d)
	}
}

func rangeBytes(rs []recover.Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Length
	}
	return n
}

// burnView shows progress: a bar per phase when stderr is a terminal, a
// message line per phase and every logEvery otherwise.
type burnView struct {
	tty     bool
	a       *app
	bar     *progress
	phase   burn.Phase
	last    int64
	lastLog time.Time
}

func newBurnView(out io.Writer, a *app) *burnView {
	f, ok := out.(*os.File)
	return &burnView{tty: ok && term.IsTerminal(int(f.Fd())), a: a}
}

func (v *burnView) update(p burn.Progress) {
	changed := p.Phase != v.phase
	if changed {
		v.bar.Finish()
		v.bar, v.last = nil, 0
		v.phase = p.Phase
		if v.tty && p.Total > 0 {
			v.bar = newProgress(fmt.Sprintf("%-6s", p.Phase))
			v.bar.Start(p.Total)
		}
	}
	if v.bar != nil {
		if p.Done > v.last {
			v.bar.Add(p.Done - v.last)
			v.last = p.Done
		}
		return
	}
	if !v.tty {
		v.logLine(p, changed)
	}
}

func (v *burnView) logLine(p burn.Progress, changed bool) {
	now := time.Now()
	if !changed && now.Sub(v.lastLog) < logEvery {
		return
	}
	v.lastLog = now
	switch {
	case p.Total > 0:
		v.a.notef("%s: %s of %s (%d%%)", p.Phase, units.Bytes(p.Done), units.Bytes(p.Total), p.Done*100/p.Total)
	case p.Percent >= 0:
		v.a.notef("%s: %.1f%%", p.Phase, p.Percent)
	default:
		v.a.notef("%s", p.Phase)
	}
}

func (v *burnView) finish() {
	v.bar.Finish()
	v.bar = nil
}
