package main

// The recovery subcommands: verify, salvage, carve and rescue. The work is
// done by package recover; this file turns flags into options, draws
// progress bars, prints reports and maps outcomes to exit codes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/fetch"
	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/recover"
	"github.com/isofsd/isofsd/recover/ddmap"
	"github.com/isofsd/isofsd/sumsig"
	"github.com/isofsd/isofsd/writer"
)

// recoverBar returns a byte progress bar on stderr, or nil when stderr is
// not a terminal (scripts and logs get no bar noise) or carries JSON.
func (a *app) recoverBar(total int64, desc string) *progressbar.ProgressBar {
	if a.json || !stderrIsTerminal() {
		return nil
	}
	return newBar(os.Stderr, total, desc, progressbar.OptionClearOnFinish())
}

// recoverSignalContext is cancelled by SIGINT/SIGTERM so long jobs stop
// cleanly (rescue saves its map first).
func recoverSignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// ---- rescue ----

type rescueFlags struct {
	mapPath   string
	sector    int64
	cluster   int64
	retries   int
	noDirect  bool
	force     bool
	toDevice  bool
	allowLoop bool
	jsonOut   bool
}

func newRescueCmd(a *app) *cobra.Command {
	var f rescueFlags
	cmd := &cobra.Command{
		Use:   "rescue SOURCE OUT.iso",
		Short: "Copy a damaged disc, device or image with a GNU ddrescue mapfile (resumable)",
		Long: `rescue copies SOURCE to OUT.iso in phases — copy (large reads, skipping past
errors), trim (the edges of failed areas sector by sector), scrape (the rest
sector by sector) and --retries retry passes — recording progress in a mapfile
in GNU ddrescue's format (OUT.map by default). Run it again with the same
mapfile to resume; ddrescue and ddrescuelog read the same file. At the end it
lists which files of the rescued image touch unread sectors.

OUT is normally an image file. A drive as OUT needs --to-device and passes
the checks write applies (USB/MMC/removable unless --force, --allow-loop for
loop devices; never mounted, swap, the system, the source's drive, too small,
or under a stacked device in use) and an explicit --map outside /dev. A file
that backs a loop device in use is refused as OUT.

Exit status: 0 everything read, 1 some sectors unread or interrupted, 2 usage
or open error.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRescue(cmd, a, args[0], args[1], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mapPath, "map", "", "mapfile (default: OUT with extension .map)")
	sizeVar(fl, &f.sector, "sector", recover.DefaultSectorSize, 512, 1<<20, "sector size (unit of trimming, scraping and retries; a multiple of 512)")
	sizeVar(fl, &f.cluster, "cluster", recover.DefaultClusterSize, 512, 1<<30, "read size of the copy phase")
	fl.IntVar(&f.retries, "retries", 0, "retry passes over bad sectors")
	fl.BoolVar(&f.noDirect, "no-direct", false, "do not use O_DIRECT on the source")
	fl.BoolVar(&f.force, "force", false, "overwrite a non-empty OUT that has no mapfile; with --to-device, allow drives that are not USB/MMC/removable")
	fl.BoolVar(&f.toDevice, "to-device", false, "OUT may be a drive (the checks of write apply)")
	fl.BoolVar(&f.allowLoop, "allow-loop", false, "with --to-device, allow loop devices")
	fl.BoolVar(&f.jsonOut, "json", false, "print the final report as JSON on stdout")
	return cmd
}

func rescueDefaultMap(out string) string {
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + ".map"
}

// rescueReport is the JSON form of rescue's result.
type rescueReport struct {
	Source     string              `json:"source"`
	Output     string              `json:"output"`
	Map        string              `json:"map"`
	Size       int64               `json:"size"`
	Rescued    int64               `json:"rescued"`
	Unread     []ddmap.Block       `json:"unread,omitempty"`
	Complete   bool                `json:"complete"`
	Interrupt  bool                `json:"interrupted,omitempty"`
	Files      *recover.FileDamage `json:"files,omitempty"`
	FilesError string              `json:"files_error,omitempty"`
}

func runRescue(cmd *cobra.Command, a *app, srcPath, outPath string, f rescueFlags) error {
	if f.sector <= 0 || f.sector%512 != 0 {
		return withCode(exitUsage, fmt.Errorf("--sector %d: want a positive multiple of 512", f.sector))
	}
	if f.retries < 0 {
		return withCode(exitUsage, fmt.Errorf("--retries %d: want >= 0", f.retries))
	}
	mapPath := f.mapPath
	if mapPath == "" {
		mapPath = rescueDefaultMap(outPath)
	}
	if filepath.Clean(mapPath) == filepath.Clean(outPath) || filepath.Clean(mapPath) == filepath.Clean(srcPath) || recoverSameFile(mapPath, srcPath) || recoverSameFile(mapPath, outPath) {
		return withCode(exitUsage, fmt.Errorf("mapfile %s would overwrite the source or the output", mapPath))
	}
	src, err := recover.OpenSource(srcPath)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer src.Close()
	target, pol, err := rescueTarget(srcPath, outPath, src.Size, f)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if err := checkMapPath(mapPath); err != nil {
		return withCode(exitUsage, err)
	}
	if f.noDirect {
		src.DisableDirect()
	}

	m, err := ddmap.Load(mapPath)
	resuming := err == nil
	switch {
	case resuming:
		a.notef("%s: resuming the rescue recorded in %s (%d bytes rescued so far)", srcPath, mapPath, m.Totals()[ddmap.Finished].Bytes)
		if m.Size() != src.Size {
			a.warnf("%s: mapfile covers %d bytes, source has %d; adjusting", mapPath, m.Size(), src.Size)
		}
	case errors.Is(err, os.ErrNotExist):
		if st, err := os.Stat(outPath); err == nil && st.Mode().IsRegular() && st.Size() > 0 && !f.force {
			return withCode(exitUsage, fmt.Errorf("%s exists and has no mapfile %s (use --force to overwrite)", outPath, mapPath))
		}
		m = ddmap.New(src.Size)
	default:
		return withCode(exitUsage, err)
	}
	m.CommandLine = "isofsd " + strings.Join(os.Args[1:], " ")

	out, err := openRescueOutput(target, pol)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer out.Close()
	// A regular output gets the source's size up front (sparse), so an image
	// with unread tail sectors still has the right length for isofmt.
	if st, err := out.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < src.Size {
		if err := out.Truncate(src.Size); err != nil {
			return withCode(exitUsage, err)
		}
	}
	a.log.WithFields(map[string]any{"size": src.Size, "direct": src.Direct, "map": mapPath}).Debugf("%s: rescuing to %s", srcPath, outPath)

	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()
	bar := a.recoverBar(src.Size, "rescue")
	var lastPhase ddmap.Phase
	opts := recover.RescueOptions{
		SectorSize:  f.sector,
		ClusterSize: f.cluster,
		Retries:     f.retries,
		Buffer:      diskio.AlignedBuffer(int(max(f.cluster, f.sector))),
		SaveMap: func(m *ddmap.Map) error {
			// Data first, then the map that claims it is there.
			if err := out.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
				return fmt.Errorf("sync %s: %w", outPath, err)
			}
			return m.Save(mapPath)
		},
		Progress: func(p recover.RescueProgress) {
			if p.Phase != lastPhase {
				lastPhase = p.Phase
				a.log.Debugf("%s: phase %c pass %d at byte %d", srcPath, p.Phase, p.Pass, p.Pos)
				if bar != nil {
					bar.Describe(rescuePhaseName(p.Phase))
				}
			}
			if bar != nil {
				bar.Set64(p.Rescued)
			}
		},
	}
	if cmd.Flags().Changed("cluster") && f.cluster < f.sector {
		return withCode(exitUsage, fmt.Errorf("--cluster %d is smaller than --sector %d", f.cluster, f.sector))
	}
	err = recover.Rescue(ctx, src, src.Size, out, m, opts)
	if bar != nil {
		bar.Finish()
	}
	rep := rescueReport{Source: srcPath, Output: outPath, Map: mapPath, Size: src.Size,
		Rescued: m.Totals()[ddmap.Finished].Bytes, Unread: m.Unfinished()}
	rep.Complete = len(rep.Unread) == 0
	if errors.Is(err, context.Canceled) {
		rep.Interrupt = true
		a.warnf("%s: interrupted; mapfile %s saved, run the same command to resume", srcPath, mapPath)
	} else if err != nil {
		return withCode(exitDamaged, fmt.Errorf("%s: %w (mapfile %s saved)", srcPath, err, mapPath))
	}
	if !rep.Interrupt && !rep.Complete {
		// Which files of the rescued image lie on unread sectors.
		fd, ferr := recover.FilesTouching(out, src.Size, rep.Unread)
		if ferr != nil {
			rep.FilesError = ferr.Error()
			a.warnf("%s: cannot list the files on unread sectors: %v", outPath, ferr)
		} else {
			rep.Files = fd
		}
	}
	if f.jsonOut {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		printRescueReport(cmd.OutOrStdout(), rep)
	}
	switch {
	case rep.Interrupt:
		return withCode(exitDamaged, errors.New("rescue interrupted"))
	case !rep.Complete:
		return withCode(exitDamaged, fmt.Errorf("%s: %d bytes in %d areas could not be read", srcPath, rep.Size-rep.Rescued, len(rep.Unread)))
	}
	return nil
}

// rescueTarget checks OUT with writer.CheckTarget, the checks write
// applies: a drive only with --to-device and an explicit --map (the
// default mapfile would land in /dev), never mounted, the system, the
// source's drive, under a stacked device in use, or too small; a file
// never the source, nor one backing a loop device in use (16.7).
func rescueTarget(srcPath, outPath string, size int64, f rescueFlags) (*writer.Target, writer.Policy, error) {
	pol := writer.Policy{Force: f.force, AllowLoop: f.allowLoop, ImageSize: size, SourceName: srcPath}
	if fi, err := os.Stat(outPath); err == nil && fi.Mode()&os.ModeDevice != 0 {
		if !f.toDevice {
			return nil, pol, fmt.Errorf("%s is a device: rescue writes to a drive only with --to-device", outPath)
		}
		if f.mapPath == "" {
			return nil, pol, fmt.Errorf("%s is a device: give --map FILE (the default %s would be written into /dev)", outPath, rescueDefaultMap(outPath))
		}
	}
	pol.Source, _ = os.Stat(srcPath)
	pol.SourceDevs, _ = writer.SourceDevices(srcPath, nil)
	t, err := writer.CheckTarget(outPath, writer.TargetOptions{Policy: pol, ToFile: true})
	if err != nil {
		return nil, pol, err
	}
	if len(t.Problems) > 0 {
		var why []string
		for _, p := range t.Problems {
			why = append(why, p.String())
		}
		return nil, pol, fmt.Errorf("%w: %s", writer.ErrRefused, strings.Join(why, "; "))
	}
	return t, pol, nil
}

// openRescueOutput opens the checked OUT: a drive exclusively and checked
// again (writer.OpenDevice); a file created if missing, never truncated
// (a resumed rescue keeps what it has), and refused if what was opened is
// not a regular file after all.
func openRescueOutput(t *writer.Target, pol writer.Policy) (*os.File, error) {
	if t.Device != nil {
		f, _, err := writer.OpenDevice(t, pol, nil)
		return f, err
	}
	f, err := os.OpenFile(t.Path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w: no longer a regular file", t.Path, writer.ErrRefused)
	}
	return f, nil
}

// checkMapPath refuses a mapfile that would be written into /dev (where
// the default OUT.map of a device OUT lands) or over something that is
// not a regular file.
func checkMapPath(mapPath string) error {
	dir, err := filepath.Abs(filepath.Dir(mapPath))
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if dir == "/dev" || strings.HasPrefix(dir, "/dev/") {
		return fmt.Errorf("mapfile %s: refusing to write a mapfile into /dev", mapPath)
	}
	if fi, err := os.Stat(mapPath); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("mapfile %s: exists and is not a regular file", mapPath)
	}
	return nil
}

func rescuePhaseName(p ddmap.Phase) string {
	switch p {
	case ddmap.Copying:
		return "copying"
	case ddmap.Trimming:
		return "trimming"
	case ddmap.Scraping:
		return "scraping"
	case ddmap.Retrying:
		return "retrying"
	}
	return "finishing"
}

func printRescueReport(w io.Writer, r rescueReport) {
	fmt.Fprintf(w, "source:   %s (%d bytes)\n", r.Source, r.Size)
	fmt.Fprintf(w, "output:   %s\nmapfile:  %s\n", r.Output, r.Map)
	fmt.Fprintf(w, "rescued:  %d bytes (%.4f%%)\n", r.Rescued, 100*float64(r.Rescued)/float64(max(r.Size, 1)))
	if r.Interrupt {
		fmt.Fprintf(w, "status:   interrupted (run again to resume)\n")
		return
	}
	if r.Complete {
		fmt.Fprintf(w, "status:   complete\n")
		return
	}
	fmt.Fprintf(w, "status:   %d unread areas\n", len(r.Unread))
	for _, b := range r.Unread {
		fmt.Fprintf(w, "  bytes %d-%d (%d bytes) %s\n", b.Pos, b.End()-1, b.Size, rescueStatusName(b.Status))
	}
	if r.FilesError != "" {
		fmt.Fprintf(w, "files:    cannot tell (%s)\n", termSafe(r.FilesError))
	}
	if r.Files != nil {
		printFileDamage(w, r.Files)
	}
}

func rescueStatusName(s ddmap.Status) string {
	switch s {
	case ddmap.NonTried:
		return "not tried"
	case ddmap.NonTrimmed:
		return "not trimmed"
	case ddmap.NonScraped:
		return "not scraped"
	case ddmap.BadSector:
		return "bad"
	}
	return "finished"
}

// recoverSameFile reports whether a and b name the same existing file.
func recoverSameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// printFileDamage lists damaged files by path with their byte ranges.
func printFileDamage(w io.Writer, d *recover.FileDamage) {
	missing := ""
	if len(d.Missing) > 0 {
		missing = fmt.Sprintf(", %d listed but missing", len(d.Missing))
	}
	fmt.Fprintf(w, "files (%s tree): %d whole, %d damaged%s\n", d.Tree, d.Whole, len(d.Damaged), missing)
	for _, f := range d.Damaged {
		tag := "DAMAGED"
		if f.Suspect {
			tag = "SUSPECT"
		}
		fmt.Fprintf(w, "  %s %s (%d bytes): %s\n", tag, termSafe(f.Path), f.Size, termSafe(f.Reason))
		for i, r := range f.Ranges {
			if i == 8 {
				fmt.Fprintf(w, "    ... %d more ranges\n", len(f.Ranges)-i)
				break
			}
			fmt.Fprintf(w, "    file bytes %d-%d (image bytes %d-%d)\n", r.FileOffset, r.FileOffset+r.Length-1, r.ImageOffset, r.ImageOffset+r.Length-1)
		}
	}
	for _, m := range d.Missing {
		fmt.Fprintf(w, "  MISSING %s: %s\n", termSafe(m.Path), termSafe(m.Reason))
	}
	for _, u := range d.Unreadable {
		fmt.Fprintf(w, "  UNREADABLE directory %s: %s\n", termSafe(u.Path), termSafe(u.Reason))
	}
	for _, m := range d.Metadata {
		fmt.Fprintf(w, "  image bytes %d-%d hold no data of any listed file (descriptors, directories, free space, or files below unreadable directories)\n", m.Offset, m.End()-1)
	}
}

// ---- verify ----

func newVerifyCmd(a *app) *cobra.Command {
	var sums, keyring, against string
	var jsonOut bool
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "verify IMAGE | verify DRIVE --against IMAGE",
		Short: "Check an image for truncation and against its checksums; name damaged files",
		Long: `verify checks IMAGE for truncation (file size against the ISO 9660 volume
size, the UDF partition end and anchors, and partition table ends), the
isomd5sum checksum implanted in it, checksum lists stored in it (/md5sum.txt,
/SHA256SUMS, ...) and, with --sums, an external sha256sum/md5sum file that
names the image. With --keyring, that file must carry a good OpenPGP
signature by a key of the keyring (SUMS.gpg, .sign, .asc or .sig beside it,
or a clearsigned file): verify says "signed by KEY" or "not signed".
Damaged files are listed by path with the affected bytes.
On a drive (or a drive's image) only the image's own length is hashed for
--sums: the lengths its structures claim are tried, never the whole drive.

verify DRIVE --against IMAGE checks a USB drive (or an image of one) that
was written from IMAGE: a drive written raw is compared over exactly the
image's length, and the differences a booted system makes (a partition
added to the table, the GPT backup moved to the end of the drive) are
named as harmless; a drive written in file-copy mode has its FAT32 tree
compared file by file with the image (SHA-256), a split install.wim
resource by resource.

Exit status: 0 verified good, 1 damaged (or --sums not signed by a key of
--keyring, or no entry of the signed --sums matches the image: with
--keyring only --sums can verify it), 2 cannot tell (no checksum to verify against, or the image
cannot be opened).`,
		Args:        cobra.ExactArgs(1),
		Annotations: notifyAnnotation,
		RunE: func(cmd *cobra.Command, args []string) error {
			if against != "" {
				return runVerifyAgainst(cmd, a, args[0], against, jsonOut)
			}
			if keyring != "" && sums == "" {
				return withCode(exitUsage, errors.New("--keyring checks the signature of --sums: give --sums too"))
			}
			sig, entries, err := readSignedSums(sums, keyring)
			if err != nil {
				return err
			}
			rep, err := recoverRunVerify(cmd, a, &sf, args[0], entries, keyring != "")
			if err != nil {
				return err
			}
			if jsonOut {
				if err := writeJSON(cmd.OutOrStdout(), struct {
					*recover.VerifyReport
					Signature string `json:"signature,omitempty"`
				}{rep, sigString(sig)}); err != nil {
					return err
				}
			} else {
				printVerifyReport(cmd.OutOrStdout(), args[0], rep)
				if sig != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "signature: %s\n", termSafe(sig.String()))
				}
			}
			switch {
			case rep.Verdict == recover.VerdictDamaged:
				return withCode(exitDamaged, fmt.Errorf("%s: damaged", args[0]))
			case keyring != "" && !sig.Trusted():
				return withCode(exitDamaged, fmt.Errorf("%s: %s is %s", args[0], sums, sig))
			case keyring != "" && !rep.ExternalOK():
				// A signed list that vouches for no entry matching the
				// image is a failed check, not a lack of one.
				return withCode(exitDamaged, fmt.Errorf("%s: not verified: no entry of the signed %s matches the image", args[0], sums))
			case rep.Verdict == recover.VerdictOK:
				a.succeeded("Verified "+filepath.Base(args[0]), "The image is intact: every checksum matches.")
				return nil
			}
			return withCode(exitUsage, fmt.Errorf("%s: cannot tell (nothing to verify against)", args[0]))
		},
	}
	cmd.Flags().StringVar(&sums, "sums", "", "external checksum file (sha256sum/md5sum format) naming the image")
	cmd.Flags().StringVar(&keyring, "keyring", "", "OpenPGP keyring (gpg --export) --sums must be signed with")
	cmd.Flags().StringVar(&against, "against", "", "the image a drive (the argument) was written from: compare the drive with it")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	addSourceFlags(cmd, &sf)
	return cmd
}

// readSignedSums reads the checksum file sums and judges its signature
// (beside it, or clearsigned) against the keyring file, if any.
func readSignedSums(sums, keyring string) (*sumsig.Result, []recover.SumEntry, error) {
	if sums == "" {
		return nil, nil, nil
	}
	data, err := readInput(sums, fetch.MaxList)
	if err != nil {
		return nil, nil, withCode(exitUsage, fmt.Errorf("--sums: %w", err))
	}
	kr, err := loadKeyring(keyring)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(sums)
	get := func(name string) ([]byte, error) {
		return readInput(filepath.Join(dir, name), sumsig.MaxSignature)
	}
	sig, err := sumsig.Check(filepath.Base(sums), data, get, kr)
	if err != nil {
		return nil, nil, withCode(exitUsage, err)
	}
	entries, err := recover.ParseSums(bytes.NewReader(sig.Text))
	if err != nil {
		return nil, nil, withCode(exitUsage, fmt.Errorf("%s: %w", sums, err))
	}
	return sig, entries, nil
}

// readInput reads a small local file (a checksum list, a signature),
// vetted by diskio.OpenInput (a FIFO there would block) and refused when
// larger than limit bytes.
func readInput(path string, limit int64) ([]byte, error) {
	in, err := diskio.OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	b, err := io.ReadAll(io.LimitReader(in, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

func sigString(r *sumsig.Result) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// recoverRunVerify opens and verifies an image, with a progress bar;
// external are the entries of --sums.
func recoverRunVerify(cmd *cobra.Command, a *app, sf *sourceFlags, path string, external []recover.SumEntry, requireExternal bool) (*recover.VerifyReport, error) {
	o := recover.VerifyOptions{ImageName: filepath.Base(path), External: external, RequireExternal: requireExternal}
	if isRemote(path) {
		o.ImageName = fetch.FileName(path)
	}
	img, closeImg, err := sf.open(cmd.Context(), a, path, "")
	if err != nil {
		return nil, err
	}
	defer closeImg()
	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()
	var bar *progressbar.ProgressBar
	o.Progress = func(done, total int64) {
		if bar == nil && total > 64<<20 {
			bar = a.recoverBar(total, "verify")
		}
		if bar != nil {
			bar.Set64(done)
		}
	}
	rep, err := recover.Verify(ctx, img, o)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		if rep == nil || errors.Is(err, context.Canceled) {
			return nil, withCode(exitUsage, err)
		}
		a.warnf("%s: %v", path, err)
	}
	for _, w := range rep.Warnings {
		a.log.Debugf("%s: %s", path, w)
	}
	return rep, nil
}

func printVerifyReport(w io.Writer, name string, r *recover.VerifyReport) {
	fmt.Fprintf(w, "image:    %s (%d bytes)\n", name, r.Size)
	for _, s := range r.Sizes {
		fmt.Fprintf(w, "  %-24s ends at %d\n", s.What, s.End)
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "check %-22s %-8s %s\n", termSafe(c.Name), c.Result, termSafe(c.Detail))
	}
	for _, b := range r.BadRanges {
		fmt.Fprintf(w, "bad range: image bytes %d-%d\n", b.Offset, b.End()-1)
	}
	if r.Files != nil {
		printFileDamage(w, r.Files)
	}
	fmt.Fprintf(w, "verdict:  %s\n", r.Verdict)
}

// ---- salvage ----

func newSalvageCmd(a *app) *cobra.Command {
	var dir, mapPath, sums string
	var jsonOut bool
	var sf sourceFlags
	var ow overwriteFlags
	cmd := &cobra.Command{
		Use:   "salvage IMAGE -C DIR",
		Short: "Extract what is readable of a damaged image: whole files, and the good parts of damaged ones",
		Long: `salvage verifies IMAGE (as verify does), then extracts into DIR every file
whose data lies inside the readable, verified part of the image. A file
partly on an unreadable or damaged part is written in part, as ddrescue
would: its good byte ranges, the rest left as holes (sparse, reading as
zeros); it is listed as PARTIAL with the ranges written and missing. A file
a checksum list says is wrong (without saying where) is left out. With
--map, the unread areas of a rescue mapfile count as unreadable.

salvage writes as extract does (the same code): nothing outside DIR, no
symlink followed, modes kept, and existing files are not replaced unless
--overwrite (--force) is given; --skip-existing and --rename as for extract.

Exit status: 0 everything extracted whole, 1 some files partial or left out
(or the image truncated), 2 usage or open error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return withCode(exitUsage, errors.New("-C DIR is required"))
			}
			policy, err := ow.policy()
			if err != nil {
				return withCode(exitUsage, err)
			}
			var bad []recover.Range
			if mapPath != "" {
				m, err := ddmap.Load(mapPath)
				if err != nil {
					return withCode(exitUsage, err)
				}
				for _, b := range m.Unfinished() {
					bad = append(bad, recover.Range{Offset: b.Pos, Length: b.Size})
				}
			}
			_, entries, err := readSignedSums(sums, "")
			if err != nil {
				return err
			}
			rep, err := recoverRunVerify(cmd, a, &sf, args[0], entries, false)
			if err != nil {
				return err
			}
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], "")
			if err != nil {
				return err
			}
			defer closeImg()
			ctx, stop := interruptContext(cmd.Context(), cmd.ErrOrStderr(), "salvage: "+args[0])
			defer stop()
			bar := newProgress("salvage")
			res, err := recover.Salvage(ctx, img, dir, recover.SalvageOptions{Report: rep, Bad: bad,
				Overwrite: policy, Metadata: extract.DefaultMetadata(), Progress: bar})
			bar.Finish()
			if err != nil && res == nil {
				return withCode(exitUsage, err)
			}
			if jsonOut {
				if err := writeJSON(cmd.OutOrStdout(), map[string]any{"verify": rep, "salvage": res}); err != nil {
					return err
				}
			} else {
				printSalvage(cmd.OutOrStdout(), dir, res)
			}
			if err != nil {
				return withCode(exitDamaged, err)
			}
			if n := len(res.Skipped) + len(res.Partial); n > 0 || len(res.Problems) > 0 {
				return withCode(exitDamaged, fmt.Errorf("%s: %s not extracted whole", args[0], plural(n, "entry", "entries")))
			}
			if rep.Verdict == recover.VerdictDamaged && res.Extracted+res.Dirs+res.Symlinks == 0 {
				// Nothing listed was skipped because nothing could be
				// listed: the damage verify found hides the content.
				return withCode(exitDamaged, fmt.Errorf("%s: damaged, and nothing could be extracted", args[0]))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "directory", "C", "", "directory to extract into (created if missing)")
	cmd.Flags().StringVar(&mapPath, "map", "", "rescue mapfile: its unread areas count as unreadable")
	cmd.Flags().StringVar(&sums, "sums", "", "external checksum file naming the image")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	addOverwriteFlags(cmd.Flags(), &ow)
	addSourceFlags(cmd, &sf)
	return cmd
}

func printSalvage(w io.Writer, dir string, res *recover.SalvageResult) {
	fmt.Fprintf(w, "extracted %s whole (%d bytes written), %s, %s into %s\n", plural(res.Extracted, "file", "files"), res.Bytes,
		plural(res.Dirs, "directory", "directories"), plural(res.Symlinks, "symlink", "symlinks"), dir)
	if res.Existing > 0 {
		fmt.Fprintf(w, "  %s left alone\n", plural(res.Existing, "existing entry", "existing entries"))
	}
	for _, p := range res.Partial {
		fmt.Fprintf(w, "  PARTIAL %s (%d bytes): %s\n    written: %s\n    missing: %s\n", termSafe(p.Path), p.Size, termSafe(p.Reason), rangeList(p.Written), rangeList(p.Missing))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "  SKIPPED %s: %s\n", termSafe(s.Path), termSafe(s.Reason))
	}
	for _, s := range res.Special {
		fmt.Fprintf(w, "  not recreated: %s (device, FIFO or socket)\n", termSafe(s))
	}
	for _, p := range res.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", termSafe(p))
	}
}

// ---- carve ----

// carveFlags are carve's (alias undelete's) options.
type carveFlags struct {
	outDir            string
	sums              string
	jsonOut, scanOnly bool
	noFS, noCarve     bool
	chunk             int64
}

func newCarveCmd(a *app) *cobra.Command {
	var f carveFlags
	cmd := &cobra.Command{
		Use:     "carve SOURCE -o OUTDIR",
		Aliases: []string{"undelete"},
		Short:   "Get deleted ISO 9660 / UDF images back from a disk or disk image: through its file systems first, then by signature",
		Long: `carve (also called undelete) recovers deleted ISO 9660 and UDF images from
SOURCE, a block device or a disk image, whole disk (MBR/GPT) or one partition.

First it reads the file systems on SOURCE — NTFS ($MFT records in use or not,
$FILE_NAME, runlists with fragmented and sparse runs, $ATTRIBUTE_LIST),
exFAT (deleted entry sets; NoFatChain files are contiguous; a chain the
deletion zeroed is assumed to continue over free clusters, and the verdict
says so), ext2/3/4 (old inode-table and directory block copies in the
journal, including transactions before its head) and FAT (deleted entries,
free clusters after the first) — and rebuilds each deleted image from its
real extents, named after its original name.

Then it scans for images no file system lists: a primary volume descriptor
32 KiB after any 512-byte boundary, or a UDF recognition sequence with an
anchor at block 256. An image found inside another's span is reported too:
it is either a file of the outer image or proof that the outer one is
fragmented.

Every image gets a verdict: "exact" only when proven (implanted MD5, an
md5sum.txt/SHA256SUMS inside it, --sums, or complete file-system extents
whose clusters neither a file nor the file system's own metadata took
since deletion); "likely" (structure valid, data
unverified — the note names the checks that would verify it); "damaged"
(the files inside it that are wrong, by path); "truncated". OUTDIR must not
be on SOURCE; SOURCE is only read. A summary table ends the report.

Exit status: 0 all images exact or likely, 1 none found or some damaged or
truncated, 2 usage or open error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCarve(cmd, a, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.outDir, "output", "o", "", "directory for recovered images (not on SOURCE)")
	fl.BoolVar(&f.scanOnly, "scan-only", false, "only report what is found, write nothing")
	fl.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fl.StringVar(&f.sums, "sums", "", "checksum file (sha256sum/md5sum format) with the images' known hashes")
	fl.BoolVar(&f.noFS, "no-fs", false, "skip the file systems: signature carving only")
	fl.BoolVar(&f.noCarve, "no-carve", false, "skip signature carving: file systems only")
	sizeVar(fl, &f.chunk, "chunk", recover.DefaultChunkSize, 64<<10, 1<<30, "scan read size")
	return cmd
}

func runCarve(cmd *cobra.Command, a *app, source string, f carveFlags) error {
	if f.outDir == "" && !f.scanOnly {
		return withCode(exitUsage, errors.New("-o OUTDIR is required (or --scan-only)"))
	}
	if f.noFS && f.noCarve {
		return withCode(exitUsage, errors.New("--no-fs and --no-carve together leave nothing to do"))
	}
	var sums []recover.SumEntry
	if f.sums != "" {
		sf, err := diskio.OpenInput(f.sums)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--sums: %w", err))
		}
		sums, err = recover.ParseSums(sf)
		sf.Close()
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("%s: %w", f.sums, err))
		}
	}
	// The source first: a path that is missing or no disk is named as such
	// before anything looks at OUTDIR.
	src, err := recover.OpenSource(source)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer src.Close()
	if !f.scanOnly {
		// Check before creating anything: creating OUTDIR on the source
		// would already write to it.
		probe := filepath.Clean(f.outDir)
		for {
			if _, err := os.Stat(probe); err == nil || filepath.Dir(probe) == probe {
				break
			}
			probe = filepath.Dir(probe)
		}
		if err := recover.CheckOutputDevice(source, probe); err != nil {
			return withCode(exitUsage, fmt.Errorf("-o %s: %w", f.outDir, err))
		}
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return withCode(exitUsage, fmt.Errorf("-o %s: %w", f.outDir, err))
		}
	}
	// Scanning reads sequentially in big chunks: the page cache's
	// read-ahead helps here, so no O_DIRECT.
	src.DisableDirect()
	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()

	var bar *progressbar.ProgressBar
	var stage string
	progress := func(s string, done, total int64) {
		if s != stage {
			if bar != nil {
				bar.Finish()
			}
			stage, bar = s, nil
			if total > 64<<20 || strings.HasPrefix(s, "scan") {
				bar = a.recoverBar(total, s)
			}
		}
		if bar != nil {
			bar.Set64(done)
		}
	}
	start := time.Now()
	rep, err := recover.Undelete(ctx, src, src.Size, recover.UndeleteOptions{
		OutDir: f.outDir, External: sums, NoFS: f.noFS, NoCarve: f.noCarve, ScanOnly: f.scanOnly,
		Scan:     recover.CarveOptions{ChunkSize: f.chunk, Progress: func(done, total int64) { progress("scanning", done, total) }},
		Progress: progress,
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		if rep == nil || errors.Is(err, context.Canceled) {
			return withCode(exitDamaged, err)
		}
		a.warnf("%s: %v", source, err)
	}
	// The report (stdout) says what was found, where it went and what a
	// file system could not tell; the log has the timing.
	a.log.WithFields(map[string]any{"images": len(rep.Images), "seconds": time.Since(start).Seconds()}).Debugf("%s: undelete done", source)
	bad := false
	for _, r := range rep.Images {
		if r.Status != recover.StatusExact && r.Status != recover.StatusLikely && r.Status != "found" {
			bad = true
		}
	}
	if f.jsonOut {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		printCarve(cmd.OutOrStdout(), rep)
	}
	if len(rep.Images) == 0 {
		return withCode(exitDamaged, fmt.Errorf("%s: no deleted or carved ISO 9660 or UDF image found", source))
	}
	if bad {
		return withCode(exitDamaged, fmt.Errorf("%s: some images are damaged or truncated", source))
	}
	return nil
}

func printCarve(w io.Writer, rep *recover.UndeleteReport) {
	for _, fs := range rep.FileSystems {
		fmt.Fprintf(w, "%s file system at byte %d (%d bytes): %d deleted files, %d of them images\n", fs.Kind, fs.Offset, fs.Size, fs.Deleted, fs.Images)
		for _, n := range fs.Notes {
			fmt.Fprintf(w, "  note: %s\n", termSafe(n))
		}
		if fs.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", termSafe(fs.Error))
		}
	}
	rs := rep.Images
	if len(rs) == 0 {
		fmt.Fprintln(w, "no images found")
		return
	}
	for _, r := range rs {
		// Names and labels come from the disk being recovered: termSafe.
		name := termSafe(r.Name)
		if name == "" {
			name = "(no name: found by signature)"
		}
		fmt.Fprintf(w, "%s: %s image at byte %d (sector %d): label %s, %d bytes, trees %v\n", name, r.Kind, r.Offset, r.Offset/512, strconv.Quote(r.Label), r.Size, r.Trees)
		fmt.Fprintf(w, "  method: %s\n", termSafe(r.Method))
		if r.FSFile != nil {
			for _, n := range r.FSFile.Notes {
				fmt.Fprintf(w, "  %s: %s\n", r.FSFile.FS, termSafe(n))
			}
		}
		if !r.Created.IsZero() {
			fmt.Fprintf(w, "  created %s, modified %s\n", r.Created.Format(time.RFC3339), r.Modified.Format(time.RFC3339))
		}
		for _, s := range r.Sizes {
			fmt.Fprintf(w, "  size evidence: %-24s %d\n", s.What, s.End)
		}
		if r.Truncated() {
			fmt.Fprintf(w, "  TRUNCATED: only %d of %d bytes are on the source\n", r.Available, r.Size)
		}
		if r.InsideFile != "" {
			fmt.Fprintf(w, "  stored in the image at byte %d as %s\n", r.NestedIn, termSafe(r.InsideFile))
		}
		for _, c := range r.Contains {
			fmt.Fprintf(w, "  contains an unrelated image at byte %d: fragmented\n", c)
		}
		if r.Path != "" {
			fmt.Fprintf(w, "  written to %s\n", termSafe(r.Path))
		}
		for _, at := range r.Attempts {
			fmt.Fprintf(w, "  tried: %s\n", termSafe(at))
		}
		for _, wr := range r.Wrong {
			fmt.Fprintf(w, "  damaged region: image bytes %d-%d\n", wr.Offset, wr.End()-1)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", termSafe(r.Error))
		}
		if r.Verify != nil {
			for _, c := range r.Verify.Checks {
				fmt.Fprintf(w, "  check %-22s %-8s %s\n", termSafe(c.Name), c.Result, termSafe(c.Detail))
			}
			if r.Verify.Files != nil && len(r.Verify.Files.Damaged) > 0 {
				printFileDamage(w, r.Verify.Files)
			}
		}
		fmt.Fprintf(w, "  status: %s\n", r.Status)
		if r.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", termSafe(r.Note))
		}
	}
	// The summary table.
	fmt.Fprintf(w, "\n%-9s  %-12s  %-14s  %-32s  %s\n", "STATUS", "SIZE", "OFFSET", "NAME", "HOW")
	for _, r := range rs {
		name := r.Name
		if name == "" {
			name = r.Label
		}
		if r.Path != "" {
			name = filepath.Base(r.Path)
		}
		how := "signature"
		if r.FSFile != nil {
			how = r.FSFile.FS + " metadata"
		} else if r.Method != "" && r.Method != "contiguous" && r.Method != "signature" {
			how = r.Method
		}
		fmt.Fprintf(w, "%-9s  %-12d  %-14d  %-32s  %s\n", r.Status, r.Size, r.Offset, termSafe(name), termSafe(how))
	}
}
