package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
)

// TestServiceInstallUninstallShareFlags: service install and uninstall
// name the service manager with the same flags and the same rule, kept
// in one place (serviceWhich, review D6): each refuses none, two, and a
// Windows flag mixed with another manager, with the same line.
func TestServiceInstallUninstallShareFlags(t *testing.T) {
	root := newRootCmd(&app{log: logrus.New()})
	for _, verb := range []string{"install", "uninstall"} {
		cmd, _, err := root.Find([]string{"service", verb})
		if err != nil || cmd.Name() != verb {
			t.Fatalf("service %s: %v", verb, err)
		}
		for _, name := range []string{"systemd", "launchd", "windows", "explorer-verbs", "user", "dir"} {
			if cmd.Flags().Lookup(name) == nil {
				t.Errorf("service %s has no --%s", verb, name)
			}
		}
		dir := t.TempDir()
		for _, c := range []struct {
			args []string
			says string
		}{
			{nil, "choose one of --systemd and --launchd"},
			{[]string{"--systemd", "--launchd"}, "choose one of --systemd and --launchd"},
			{[]string{"--windows", "--systemd"}, "--windows and --explorer-verbs go without --systemd and --launchd"},
			{[]string{"--explorer-verbs", "--launchd"}, "--windows and --explorer-verbs go without --systemd and --launchd"},
		} {
			args := append([]string{"service", verb, "--dir", dir}, c.args...)
			_, stderr, code := cliRun(t, args...)
			if code != exitUsage || !strings.Contains(stderr, c.says) {
				t.Errorf("%q: exit %d %q, want exit 2 saying %q", args, code, stderr, c.says)
			}
		}
	}
}

// TestJSONListsAreArrays: drives, devices and list print an empty list
// as [] through the one writer (review D6: the drives and devices code
// was copied).
func TestJSONListsAreArrays(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSONList[*pflag.Flag](&b, nil); err != nil || b.String() != "[]\n" {
		t.Errorf("empty list: %q %v", b.String(), err)
	}
	b.Reset()
	writeJSONList(&b, []string{"a"})
	if b.String() != "[\n  \"a\"\n]\n" {
		t.Errorf("one element: %q", b.String())
	}
}
