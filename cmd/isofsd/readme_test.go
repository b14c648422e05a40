package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
)

// TestReadmeBurnSynopses: the README's command table shows every flag of
// burn and drives (review U6: the burn row left out --yes, --engine and
// --json), so a flag added to one of them without its README line fails.
func TestReadmeBurnSynopses(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(string(readme), "\n") {
		for _, name := range []string{"burn", "drives"} {
			if strings.HasPrefix(l, "| `"+name+" ") {
				rows[name] = l
			}
		}
	}
	root := newRootCmd(&app{log: logrus.New()})
	for _, name := range []string{"burn", "drives"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		row, ok := rows[name]
		if !ok {
			t.Errorf("README has no table row for %s", name)
			continue
		}
		cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && f.Name != "help" && !strings.Contains(row, "--"+f.Name) {
				t.Errorf("README's %s row lacks --%s: %s", name, f.Name, row)
			}
		})
	}
}
