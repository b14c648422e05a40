package main

// `isofsd man`: manual pages for every command, generated from the command
// tree itself (cobra's doc generator), so that they always match the
// binary's flags and help texts.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/isofsd/isofsd/internal/diskio"
)

func newManCmd(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man [--dir DIR]",
		Short: "Install manual pages for isofsd and every subcommand",
		Long: `man writes a manual page (section 1) for isofsd and for each subcommand —
isofsd.1, isofsd-info.1, isofsd-mount.1, ... — generated from the commands'
own help, into DIR: by default /usr/local/share/man/man1 as root, else
~/.local/share/man/man1 (both are on man's search path). It prints the pages
written. Read one without installing: isofsd man --dir /tmp/m && man -l /tmp/m/isofsd-info.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				d, err := defaultManDir()
				if err != nil {
					return withCode(exitUsage, err)
				}
				dir = d
			}
			paths, err := writeManPages(cmd.Root(), dir)
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if err != nil {
				return withCode(exitUsage, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the pages (created if missing)")
	return cmd
}

// defaultManDir is where man finds pages without configuration.
func defaultManDir() (string, error) {
	if os.Geteuid() == 0 {
		return "/usr/local/share/man/man1", nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the manual pages (give --dir): %w", err)
	}
	return filepath.Join(home, ".local", "share", "man", "man1"), nil
}

// writeManPages writes one page per available command under root into
// dir and returns their paths. Each page is replaced atomically, so a
// reader never sees half a page.
func writeManPages(root *cobra.Command, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bi := readBuildInfo()
	date := time.Now()
	if t, err := time.Parse(time.RFC3339, bi.Time); err == nil {
		date = t // pages of one build are the same whenever generated
	}
	header := &doc.GenManHeader{Title: "ISOFSD", Section: "1", Date: &date,
		Source: "isofsd " + bi.Version, Manual: "isofsd manual"}
	root.DisableAutoGenTag = true
	var paths []string
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		var b bytes.Buffer
		h := *header
		if err := doc.GenMan(c, &h, &b); err != nil {
			return fmt.Errorf("%s: %w", c.CommandPath(), err)
		}
		p := filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		if err := diskio.WriteFileAtomic(p, b.Bytes(), 0o644); err != nil {
			return err
		}
		paths = append(paths, p)
		for _, s := range c.Commands() {
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(root)
	return paths, err
}
