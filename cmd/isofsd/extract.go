package main

// `isofsd extract`: flags in, package extract does the work, events and
// a summary out (extractout.go).

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/extract"
)

type extractFlags struct {
	dir, tree      string
	boot, toStdout bool
	dryRun, quiet  bool
	jobs           int
	exclude        []string
	ow             overwriteFlags
	sf             sourceFlags
}

func newExtractCmd(a *app) *cobra.Command {
	var f extractFlags
	cmd := &cobra.Command{
		Use:   "extract IMAGE [PATH|GLOB...] (-C DIR | -O)",
		Short: "Copy files out of an image, preserving modes, times and links",
		Long: `extract copies the files of IMAGE (all of them, or those named by PATH or
GLOB arguments) into DIR, preserving permissions, modification and access
times, symlinks, hard links and — as root — owners and device nodes.

A PATH or GLOB is matched against the whole image path without a leading
"/", element by element (path.Match rules: "*" does not cross "/"); "**"
matches any number of elements; a match on a directory selects everything
below it. --exclude GLOB leaves out what it matches (a GLOB without "/"
matches a name at any depth). Examples: boot, 'isolinux/*.c32',
'**/README*', --exclude '*.bak'.

Nothing is written outside DIR: names "..", names holding "/" or NUL and
paths through symlinks are refused with a message naming the path, and
existing files are not replaced unless --overwrite (or --force) is given;
--skip-existing leaves them alone, --rename writes name_1.ext beside them.
An existing directory is merged into and keeps its owner and mode. DIR is
reached following only your own or root's symlinks. Runs of zeros are left
as holes. --boot also writes the El Torito boot images to DIR/[BOOT]/.
--dry-run lists what would be written. Ctrl-C stops the run: the file being
written is removed and directories get their modes; the temporary files a
killed --overwrite run left are removed by the next run.

-O writes the contents of the selected files to stdout instead (as cat
does): a PATH without wildcards follows symlinks inside the image; every
PATH and GLOB is checked first, and one that matches nothing or names a
FIFO, device, socket or dangling symlink is exit 2 with nothing written.

Exit status: 0 ok, 1 some entries could not be extracted (each is reported
with the image, the path and the sector; the others are extracted) or the
run was interrupted, 2 usage, DIR refused, or the image cannot be opened.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExtract(cmd, a, args[0], args[1:], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.dir, "directory", "C", "", "extract into DIR (created if missing)")
	fl.BoolVarP(&f.toStdout, "stdout", "O", false, "write the selected files' contents to stdout, one after the other")
	treeVar(fl, &f.tree, treeFlagHelp)
	addSourceFlags(cmd, &f.sf)
	fl.BoolVar(&f.boot, "boot", false, "also write the El Torito boot images to DIR/[BOOT]/")
	fl.StringArrayVar(&f.exclude, "exclude", nil, "leave out what GLOB matches (repeatable)")
	addOverwriteFlags(fl, &f.ow)
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "write nothing; list what would be written and what would happen to each entry")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no summary line at the end")
	fl.IntVarP(&f.jobs, "jobs", "j", min(runtime.NumCPU(), 8), "parallel file copies")
	return cmd
}

func runExtract(cmd *cobra.Command, a *app, image string, pats []string, f extractFlags) error {
	switch {
	case f.toStdout && (f.dir != "" || f.dryRun):
		return withCode(exitUsage, errors.New("extract: -O writes to stdout: it takes neither -C nor --dry-run"))
	case !f.toStdout && f.dir == "":
		return withCode(exitUsage, errors.New("extract: -C DIR (or -O) is required"))
	case f.jobs < 1 || f.jobs > 256:
		return withCode(exitUsage, fmt.Errorf("extract: -j %d: want 1..256", f.jobs))
	}
	policy, err := f.ow.policy()
	if err != nil {
		return withCode(exitUsage, err)
	}
	img, closeImg, err := f.sf.open(cmd.Context(), a, image, f.tree)
	if err != nil {
		return err
	}
	defer closeImg()
	ctx, stop := interruptContext(cmd.Context(), cmd.ErrOrStderr(), "extract: "+image)
	defer stop()
	rep := &reporter{w: cmd.ErrOrStderr(), what: "extract: " + image, out: cmd.OutOrStdout()}
	bar := newProgress("extract")
	o := extract.Options{Include: pats, Exclude: f.exclude, Boot: f.boot, Overwrite: policy,
		Metadata: extract.DefaultMetadata(), Workers: f.jobs, Report: rep.event, DryRun: f.dryRun, Progress: bar}
	var res *extract.Result
	if f.toStdout {
		res, err = extract.Stream(ctx, img, cmd.OutOrStdout(), o)
	} else {
		res, err = extract.Run(ctx, img, f.dir, o)
	}
	bar.Finish()
	if err != nil && res == nil {
		return withCode(exitUsage, fmt.Errorf("extract: %s: %w", image, err))
	}
	if !f.quiet {
		fmt.Fprintln(cmd.ErrOrStderr(), summary("extract: "+image, f.dir, res, f.dryRun))
	}
	switch {
	case res.Interrupted:
		return withCode(exitDamaged, fmt.Errorf("extract: %s: interrupted; the file being written was removed", image))
	case err != nil:
		return withCode(exitDamaged, fmt.Errorf("extract: %s: %w", image, err))
	case res.Failed > 0 && f.dryRun:
		return withCode(exitDamaged, fmt.Errorf("extract: %s: %s (listed above); %d of %d entries would be extracted",
			image, plural(res.Failed, "problem", "problems"), res.Created(), res.Planned))
	case res.Failed > 0 && f.toStdout:
		return withCode(exitDamaged, fmt.Errorf("extract: %s: %s (reported above); %d of %d files written whole",
			image, plural(res.Failed, "problem", "problems"), res.Files, res.Planned))
	case res.Failed > 0:
		return withCode(exitDamaged, fmt.Errorf("extract: %s: %s (reported above); %d of %d entries extracted",
			image, plural(res.Failed, "problem", "problems"), res.Created(), res.Planned))
	}
	return nil
}
