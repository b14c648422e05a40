//go:build unix

package main

import (
	"log/syslog"

	lsyslog "github.com/sirupsen/logrus/hooks/syslog"
)

// systemLog sends a detached process's log to syslog, when there is one.
func systemLog(a *app) {
	if hook, err := lsyslog.NewSyslogHook("", "", syslog.LOG_DAEMON|syslog.LOG_INFO, "isofsd"); err == nil {
		a.log.AddHook(hook)
	}
}
