package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isofsd/isofsd/desktop"
)

// notifyKey marks (in cobra annotations) the commands that report their
// outcome as a desktop notification when started from the desktop: a
// file manager action or a double-click shows no terminal.
const notifyKey = "isofsd.notify"

// notifyAnnotation is the annotation of those commands.
var notifyAnnotation = map[string]string{notifyKey: "outcome"}

// wantNotify says whether this process reports by notification (see
// desktop.WantNotify); a re-executed mount daemon never does, its parent
// reports.
func (a *app) wantNotify() bool {
	return !a.quiet && desktop.WantNotify(os.Getenv, func(fd int) bool { return term.IsTerminal(fd) })
}

// succeeded reports a command's success when wantNotify.
func (a *app) succeeded(summary, body string) {
	if a.wantNotify() {
		a.notify(desktop.Notification{Summary: summary, Body: body})
	}
}

// notifyFailure reports the failure of an annotated command when
// wantNotify.
func (a *app) notifyFailure(cmd *cobra.Command, err error) {
	if err == nil || cmd == nil || cmd.Annotations[notifyKey] == "" || !a.wantNotify() {
		return
	}
	a.notify(desktop.Notification{Summary: "isofsd " + cmd.Name() + " failed", Body: err.Error(), Icon: "dialog-error", Critical: true})
}

func (a *app) notify(n desktop.Notification) {
	if _, err := desktop.Notify(context.Background(), n); err != nil {
		a.log.WithError(err).Debug("desktop notification not shown")
	}
}

// mountedNotice is the notification of a mount: fresh false when the
// image was mounted already.
func mountedNotice(image, mp string, fresh bool) (string, string) {
	if !fresh {
		return "Already mounted: " + filepath.Base(mp), filepath.Base(image) + " is mounted at " + mp
	}
	return "Mounted " + filepath.Base(mp), filepath.Base(image) + " is mounted read-only at " + mp
}
