package main

// What extract and salvage share around package extract: the overwrite
// policy flags, Ctrl-C, and how events and the final summary are printed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/internal/units"
)

// overwriteFlags are extract's and salvage's overwrite policy flags.
type overwriteFlags struct{ overwrite, skip, rename bool }

func addOverwriteFlags(fl *pflag.FlagSet, f *overwriteFlags) {
	fl.BoolVar(&f.overwrite, "overwrite", false, "replace existing files and symlinks (each new file is written aside and renamed over the old one when complete)")
	fl.BoolVar(&f.overwrite, "force", false, "same as --overwrite")
	fl.BoolVar(&f.skip, "skip-existing", false, "leave existing files alone")
	fl.BoolVar(&f.rename, "rename", false, "write beside an existing file under a free name (name_1.ext, ...)")
}

func (f overwriteFlags) policy() (extract.Overwrite, error) {
	n := 0
	p := extract.Refuse
	for _, c := range []struct {
		set bool
		p   extract.Overwrite
	}{{f.overwrite, extract.Replace}, {f.skip, extract.Skip}, {f.rename, extract.Rename}} {
		if c.set {
			n++
			p = c.p
		}
	}
	if n > 1 {
		return 0, errors.New("--overwrite (--force), --skip-existing and --rename exclude each other")
	}
	return p, nil
}

// interruptContext is cancelled by SIGINT or SIGTERM; it says so on w at
// once (the work still to do — removing a partial file, finishing
// directories — takes a moment), and a second signal kills the process.
func interruptContext(parent context.Context, w io.Writer, what string) (context.Context, context.CancelFunc) {
	ctx, stop := recoverSignalContext(parent)
	end := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop()
			if parent.Err() == nil {
				fmt.Fprintf(w, "isofsd: %s: interrupted; removing the partial file and finishing directories\n", what)
			}
		case <-end:
		}
	}()
	return ctx, func() { close(end); stop() }
}

// reporter prints extract's and salvage's events on stderr (a dry run's
// plan on stdout), image-supplied names quoted.
type reporter struct {
	w, out io.Writer
	what   string
}

func (r *reporter) event(ev extract.Event) {
	where := ""
	if ev.Path != "" {
		where = termSafe(ev.Path)
		if ev.Sector >= 0 {
			where += fmt.Sprintf(" (sector %d)", ev.Sector)
		}
		where += ": "
	}
	switch ev.Kind {
	case extract.Failed:
		hint := ""
		if errors.Is(ev.Err, extract.ErrExists) {
			hint = " (use --overwrite/--force to replace it, --skip-existing or --rename)"
		}
		fmt.Fprintf(r.w, "isofsd: %s: %s%s%s\n", r.what, where, termSafe(fmt.Sprint(ev.Err)), hint)
	case extract.Skipped:
		if !errors.Is(ev.Err, extract.ErrExists) {
			fmt.Fprintf(r.w, "isofsd: %s: %sskipped: %s\n", r.what, where, termSafe(fmt.Sprint(ev.Err)))
		}
	case extract.Partial:
		fmt.Fprintf(r.w, "isofsd: %s: %spartial: %s; bytes written: %s\n", r.what, where, termSafe(fmt.Sprint(ev.Err)), rangeList(ev.Written))
	case extract.Warning:
		fmt.Fprintf(r.w, "isofsd: %s: warning: %s\n", r.what, termSafe(fmt.Sprint(ev.Err)))
	case extract.Planned:
		line := fmt.Sprintf("%-7s %s %s", ev.Action, ev.Type, termSafe(ev.Path))
		if ev.Type == "-" {
			line += fmt.Sprintf(" (%d bytes)", ev.Size)
		}
		if ev.Action == extract.ActRename {
			line += " -> " + termSafe(path.Join(path.Dir(ev.Path), ev.Dest))
		}
		fmt.Fprintln(r.out, line)
	}
}

// rangeList prints byte ranges as "0-4095, 8192-10239".
func rangeList(rs []extract.Range) string {
	if len(rs) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d-%d", r.Offset, r.End()-1))
	}
	return strings.Join(parts, ", ")
}

// summary is the line printed when a run ends, as 7-Zip and rsync print
// one: what was written where, how much, how fast. dir is "" for
// stdout (extract -O).
func summary(what, dir string, r *extract.Result, dry bool) string {
	var parts []string
	if dir == "" {
		s := plural(r.Files+r.FailedEntries, "file", "files")
		if r.FailedEntries > 0 {
			s += fmt.Sprintf(", %d cut short by damage", r.FailedEntries)
		}
		parts = append(parts, s+" ("+units.Bytes(r.Bytes)+")")
		dir = "stdout"
	} else {
		parts = append(parts, plural(r.Files, "file", "files")+" ("+units.Bytes(r.Bytes)+")")
	}
	for _, c := range []struct {
		n         int
		one, many string
	}{{r.Dirs, "directory", "directories"}, {r.Symlinks, "symlink", "symlinks"},
		{r.Links, "hard link", "hard links"}, {r.Special, "FIFO or device", "FIFOs or devices"}} {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.one, c.many))
		}
	}
	s := strings.Join(parts, ", ")
	if dry {
		s = fmt.Sprintf("isofsd: %s -> %s: would extract %s", what, dir, s)
		if r.Existing > 0 {
			s += "; " + plural(r.Existing, "existing entry", "existing entries") + " would be left alone"
		}
	} else {
		secs := max(r.Elapsed.Seconds(), 1e-3)
		s = fmt.Sprintf("isofsd: %s -> %s: %s in %.2f s (%s/s)", what, dir, s, r.Elapsed.Seconds(), units.Bytes(int64(float64(r.Bytes)/secs)))
		if r.Existing > 0 {
			s += "; " + plural(r.Existing, "existing entry", "existing entries") + " left alone"
		}
	}
	if r.Failed > 0 {
		s += "; " + plural(r.Failed, "problem", "problems")
	}
	return s
}

// plural is "1 file" or "2 files".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
