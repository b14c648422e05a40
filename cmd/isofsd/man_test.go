package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestManPages installs the manual pages into a directory and renders
// each with groff (warnings are errors): one page per command, naming
// every flag the command has, so the pages cannot fall behind the binary.
func TestManPages(t *testing.T) {
	isotest.RequireTool(t, "groff")
	dir := t.TempDir()
	stdout, stderr, code := cliRun(t, "man", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	root := newRootCmd(&app{})
	root.InitDefaultCompletionCmd() // added when a command line runs
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && !c.IsAvailableCommand() {
			return
		}
		n++
		page := filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		if !strings.Contains(stdout, page+"\n") {
			t.Errorf("%s: not listed as written", page)
		}
		out, err := exec.Command("groff", "-k", "-man", "-Tutf8", "-ww", "-z", page).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("%s: groff: %v\n%s", page, err, out)
			return
		}
		src, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		// The roff source, unescaped: dashes, and the font changes
		// md2man makes of `code` in help texts.
		text := strings.NewReplacer(`\-`, "-", `\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "").Replace(string(src))
		text = strings.Join(strings.Fields(text), " ")
		c.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !strings.Contains(text, "--"+f.Name) {
				t.Errorf("%s: flag --%s not in the page", page, f.Name)
			}
		})
		if short := strings.ReplaceAll(c.Short, "`", ""); !strings.Contains(text, short) && short != "" {
			t.Errorf("%s: the command's summary %q is not in the page", page, c.Short)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if ents, _ := os.ReadDir(dir); len(ents) != n {
		t.Errorf("%d files in the directory, %d commands", len(ents), n)
	}
	for _, must := range []string{"isofsd.1", "isofsd-info.1", "isofsd-write.1", "isofsd-ls.1"} {
		if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
			t.Error(err)
		}
	}
}
