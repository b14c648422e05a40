package main

// `isofsd ls`: list a directory of an image like ls(1) — modes, link
// counts, numeric owners (image ids mean nothing on this host), sizes,
// modification times and symlink targets — optionally recursively.

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/isofmt"
)

type lsFlags struct {
	long, recursive, all, inode bool
	tree                        string
}

func newLsCmd(a *app) *cobra.Command {
	var f lsFlags
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "ls [-l] [-R] [-a] [--tree T] IMAGE [PATH]",
		Short: "List the files of an image like ls",
		Long: `ls lists PATH (default: the root) of IMAGE sorted by name. -l adds the
mode, link count, numeric owner and group, size (major, minor for devices),
modification time (local time) and symlink targets; -R descends into
subdirectories; -a includes entries the image flags as hidden; -i prints
inode numbers. Symlinks inside PATH are followed, never outside the image.

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
				p = cleanImagePath(args[1])
			}
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
	fl.StringVar(&f.tree, "tree", "", treeFlagHelp)
	addSourceFlags(cmd, &sf)
	return cmd
}

// cleanImagePath turns a user's path ("/boot/", "./a") into an fs.FS name.
func cleanImagePath(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func runLs(w, errw io.Writer, imgName string, img *isofmt.Image, p string, f lsFlags) error {
	fi, err := img.Lstat(p)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 && !f.long {
		// Like ls: a symlink operand names its target unless -l.
		if st, serr := img.Stat(p); serr == nil && st.IsDir() {
			fi = st
		}
	}
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("%s: %s: %w", imgName, p, err))
	}
	if !fi.IsDir() {
		node := fi.Sys().(*isofmt.Stat)
		lsLine(w, fi.Name(), node, f)
		return nil
	}
	var bad int
	// Recursion goes by names the image supplies: a name like ".." or
	// "a/b" would make path.Join leave the directory (and loop), so such
	// names are listed but not entered, and a directory whose data was
	// already listed (a loop in a hostile image) is not entered again.
	seen := map[int64]bool{dirKey(fi.Sys().(*isofmt.Stat)): true}
	var list func(dir string, header bool, depth int)
	list = func(dir string, header bool, depth int) {
		ents, err := img.ReadDir(dir)
		if header {
			fmt.Fprintf(w, "%s:\n", lsShowPath(dir))
		}
		if err != nil {
			bad++
			fmt.Fprintf(errw, "isofsd: ls: %s: %s: %v\n", imgName, lsShowPath(dir), err)
		}
		var subdirs []string
		for _, e := range ents {
			info, _ := e.Info()
			st := info.Sys().(*isofmt.Stat)
			if st.Hidden && !f.all {
				continue
			}
			lsLine(w, e.Name(), st, f)
			if !e.IsDir() || !f.recursive {
				continue
			}
			sub := path.Join(dir, e.Name())
			switch {
			case checkName(e.Name()) != nil:
				bad++
				fmt.Fprintf(errw, "isofsd: ls: %s: %s: not entering directory %q: unusable name\n", imgName, lsShowPath(dir), e.Name())
			case seen[dirKey(st)]:
				bad++
				fmt.Fprintf(errw, "isofsd: ls: %s: %s (sector %d): not entering: this directory was listed already (loop)\n", imgName, lsShowPath(sub), st.Sector())
			case depth+1 > isofmt.MaxDepth:
				bad++
				fmt.Fprintf(errw, "isofsd: ls: %s: %s: deeper than %d levels\n", imgName, lsShowPath(sub), isofmt.MaxDepth)
			default:
				seen[dirKey(st)] = true
				subdirs = append(subdirs, sub)
			}
		}
		for _, s := range subdirs {
			fmt.Fprintln(w)
			list(s, true, depth+1)
		}
	}
	list(p, f.recursive, 0)
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

// lsLine prints one entry; names are quoted when they hold control
// characters so a hostile name cannot rewrite the terminal.
func lsLine(w io.Writer, name string, st *isofmt.Stat, f lsFlags) {
	shown := lsQuote(name)
	if f.inode {
		fmt.Fprintf(w, "%8d ", st.Inode)
	}
	if !f.long {
		fmt.Fprintln(w, shown)
		return
	}
	size := fmt.Sprint(st.Size)
	if st.Mode&fs.ModeDevice != 0 {
		size = fmt.Sprintf("%d, %d", st.DevMajor(), st.DevMinor())
	}
	fmt.Fprintf(w, "%s %3d %5d %5d %10s %s %s", lsMode(st.Mode), st.Nlink, st.UID, st.GID, size, lsTime(st.ModTime.Time()), shown)
	if st.Mode&fs.ModeSymlink != 0 {
		fmt.Fprintf(w, " -> %s", lsQuote(st.Target))
	}
	fmt.Fprintln(w)
}

func lsQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\uFFFD' }) >= 0 {
		return fmt.Sprintf("%q", s)
	}
	return s
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
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	default:
		b[0] = '-'
	}
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
