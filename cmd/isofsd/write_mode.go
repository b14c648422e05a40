package main

// How `write` shows the mode it chose before asking for confirmation:
// the USB verdict, the mode and its reason, and for file-copy mode the
// drive it will make (partition table, label, files, WIM split, notes).

import (
	"fmt"
	"io"
	"strings"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/writer"
	"github.com/isofsd/isofsd/writer/filecopy"
)

func describeMode(out io.Writer, p *writer.Plan) {
	if u := p.Image.USB; u != nil {
		fmt.Fprintf(out, "USB:    %s\n", u.Verdict)
	}
	fmt.Fprintf(out, "mode:   %s — %s\n", p.Mode, p.ModeReason)
	if p.ModeWarning != "" {
		fmt.Fprintf(out, "WARNING: %s\n", p.ModeWarning)
	}
	fc := p.FileCopy
	if fc == nil {
		return
	}
	scheme := "GPT"
	if p.Disk != nil && p.Disk.Scheme == filecopy.MBR {
		scheme = "MBR"
	}
	part := ""
	if d := p.Disk; d != nil {
		part = fmt.Sprintf(" of %s at 1 MiB", units.Bytes(d.PartSize))
	}
	fmt.Fprintf(out, "drive:  %s, one FAT32 partition%s labelled %q; %d files in %d directories, %s from the %s tree\n",
		scheme, part, fc.Label, len(fc.Files), fc.Dirs, units.Bytes(fc.Bytes), fc.Tree)
	for _, s := range fc.Splits {
		names := make([]string, len(s.Parts))
		for i, f := range s.Parts {
			names[i] = f.Path[strings.LastIndexByte(f.Path, '/')+1:]
		}
		fmt.Fprintf(out, "split:  /%s (%s) into %s\n", s.WIM, units.Bytes(s.Size), strings.Join(names, ", "))
	}
	for _, n := range fc.Notes {
		if !strings.Contains(n, " is split into ") {
			fmt.Fprintf(out, "note:   %s\n", quoteControl(n))
		}
	}
}

// quoteControl escapes control characters (an image's names may carry
// terminal escapes) without quoting the whole line.
func quoteControl(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}
