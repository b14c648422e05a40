package main

// `isofsd ls`: list a directory of an image like ls(1) — modes, link
// counts, numeric owners (image ids mean nothing on this host), sizes,
// modification times and symlink targets — optionally recursively.

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/isofmt"
)

type lsFlags struct {
	long, recursive, all, inode bool
	human, json                 bool
	tree                        string
	// uid and gid own entries the image records no owner for
	// (isofmt.Stat.Owner): the user listing, as mount and extract do.
	uid, gid uint32
}

func newLsCmd(a *app) *cobra.Command {
	var f lsFlags
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "ls [-l] [-h] [-R] [-a] [--json] [--tree T] IMAGE [PATH]",
		Short: "List the files of an image like ls",
		Long: `ls lists PATH (default: the root) of IMAGE sorted by name. -l adds the
mode, link count, numeric owner and group, size (major, minor for devices),
modification time (local time) and symlink targets; -h shows sizes as
1.5 KiB, 4.0 MiB; -R descends into subdirectories; -a includes entries the
image flags as hidden; -i prints inode numbers. Symlinks inside PATH are
followed, never outside the image. Entries whose image records no owner
(Joliet, plain ISO 9660, UDF's "unset" ids) show yours, as a mount or an
extraction by you would. Names with control characters are printed quoted.

--json prints one JSON array of every entry listed (with -R, of the whole
subtree), each with path, name, type, mode, size, links, owner, times,
inode, first data sector and symlink target, for scripts.

Exit status: 0 ok, 1 some directories could not be read (the rest is
listed), 2 usage, PATH not found, or the image cannot be opened.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], f.tree)
			if err != nil {
				return err
			}
			defer closeImg()
			p := "."
			if len(args) == 2 {
				p = extract.CleanPath(args[1])
			}
			f.uid, f.gid = currentOwner()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			defer w.Flush()
			return runLs(w, cmd.ErrOrStderr(), args[0], img, p, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.long, "long", "l", false, "long listing")
	fl.BoolVarP(&f.recursive, "recursive", "R", false, "list subdirectories recursively")
	fl.BoolVarP(&f.all, "all", "a", false, "include entries flagged hidden")
	fl.BoolVarP(&f.inode, "inode", "i", false, "print inode numbers")
	fl.BoolVarP(&f.human, "human-readable", "h", false, "sizes like 1.5 KiB, 4.0 MiB (with -l)")
	fl.BoolVar(&f.json, "json", false, "print a JSON array of the entries")
	// -h is ls's human-readable flag here; help stays on --help.
	fl.BoolP("help", "", false, "help for ls")
	treeVar(fl, &f.tree, treeFlagHelp)
	addSourceFlags(cmd, &sf)
	return cmd
}

// currentOwner is the user running isofsd, for entries without an owner
// (os.Getuid is -1 on Windows: root's 0 is shown there).
func currentOwner() (uint32, uint32) {
	return uint32(max(os.Getuid(), 0)), uint32(max(os.Getgid(), 0))
}

func runLs(w, errw io.Writer, imgName string, img *isofmt.Image, p string, f lsFlags) error {
	out := newLsPrinter(w, f)
	err := walkLs(out, errw, imgName, img, p, f)
	out.close()
	return err
}

func walkLs(out lsPrinter, errw io.Writer, imgName string, img *isofmt.Image, p string, f lsFlags) error {
	n, err := img.LookupPath(p)
	if err == nil && n.Stat.Mode&fs.ModeSymlink != 0 && !f.long {
		// Like ls: a symlink operand names its target unless -l.
		if t, terr := img.Resolve(p); terr == nil && t.IsDir() {
			n = t
		}
	}
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("%s: %s: %w", imgName, termSafe(p), err))
	}
	if !n.IsDir() {
		out.entry(path.Dir(p), n.Name, &n.Stat)
		return nil
	}
	// isofmt.Walk is the walk extract and recover use too: it does not
	// enter a directory whose name cannot be a path element, nor one whose
	// data was listed already (a loop in a hostile image).
	var bad int
	err = isofmt.Walk(img, p, n, isofmt.WalkOptions{
		Visit: func(d *isofmt.WalkDir) ([]*isofmt.Node, error) {
			if f.recursive {
				out.header(d.Path)
			}
			if d.Err != nil {
				bad++
				fmt.Fprintf(errw, "isofsd: ls: %s: %s: %s\n", imgName, termSafe(lsShowPath(d.Path)), termSafe(d.Err.Error()))
			}
			ents := slices.Clone(d.Entries)
			slices.SortStableFunc(ents, func(a, b *isofmt.Node) int { return strings.Compare(a.Name, b.Name) })
			var subdirs []*isofmt.Node
			for _, e := range ents {
				if e.Stat.Hidden && !f.all {
					continue
				}
				out.entry(d.Path, e.Name, &e.Stat)
				if e.IsDir() && f.recursive {
					subdirs = append(subdirs, e)
				}
			}
			return subdirs, nil
		},
		Refused: func(sub string, n *isofmt.Node, why error) {
			bad++
			fmt.Fprintf(errw, "isofsd: ls: %s: %s (sector %d): not entering: %s\n", imgName, termSafe(lsShowPath(sub)), n.Stat.Sector(), termSafe(why.Error()))
		},
	})
	if err != nil {
		bad++
		fmt.Fprintf(errw, "isofsd: ls: %s: %s\n", imgName, termSafe(err.Error()))
	}
	if bad > 0 {
		return withCode(exitDamaged, fmt.Errorf("%s: %d directories could not be read completely or entered", imgName, bad))
	}
	return nil
}

func lsShowPath(dir string) string {
	if dir == "." {
		return "/"
	}
	return "/" + dir
}

// lsTime prints a fixed-width timestamp: ls's recent/old forms vary by
// locale and age, so use one unambiguous ISO form.
func lsTime(t time.Time) string {
	if t.IsZero() {
		return "-               "
	}
	return t.Local().Format("2006-01-02 15:04")
}

// lsMode formats a mode the way ls -l does (drwxr-sr-x, lrwxrwxrwx...).
func lsMode(m fs.FileMode) string {
	var b [10]byte
	b[0] = extract.TypeLetter(m)[0]
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[1+i] = rwx[i]
		} else {
			b[1+i] = '-'
		}
	}
	special := func(pos int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[pos] == '-' {
			b[pos] = upper
		} else {
			b[pos] = lower
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b[:])
}
