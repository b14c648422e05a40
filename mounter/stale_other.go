//go:build !linux

package mounter

import "github.com/sirupsen/logrus"

// clearStaleMounts has nothing to do here: macFUSE and WinFsp remove a
// mount whose server process died, so no dead mount outlives a daemon.
func clearStaleMounts(path string, log logrus.FieldLogger) ([]string, error) { return nil, nil }
