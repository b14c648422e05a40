//go:build windows

package main

// systemLog: a detached process on Windows logs only to --log-file (the
// daemon and its service log there too); without one its output is
// discarded.
func systemLog(a *app) {}
