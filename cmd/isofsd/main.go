// Command isofsd opens, mounts, extracts, verifies, writes and recovers ISO
// 9660 / UDF images. Each subcommand lives in its own file; this file holds
// the root command, logging set-up and the exit-code contract.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Exit codes: the contract scripts rely on (documented in README.md).
const (
	exitOK       = 0 // success
	exitDamaged  = 1 // the command ran but found damage or could do only part of the job
	exitUsage    = 2 // bad usage, or the image/device could not be opened
	exitInternal = 3 // unexpected internal failure
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode tags err with an exit code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// globalOptions are the flags every subcommand shares.
type globalOptions struct {
	logLevel  string
	logFormat string
}

// app is what every subcommand constructor receives.
type app struct {
	opts globalOptions
	log  *logrus.Logger
	// quiet suppresses desktop notifications (see notify.go).
	quiet bool
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "isofsd",
		Short:         "Open, mount, extract, verify, write and recover ISO 9660 / UDF images",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setupLogging()
		},
	}
	root.PersistentFlags().StringVar(&a.opts.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&a.opts.logFormat, "log-format", "text", "log format: text or json")
	for _, c := range subcommands(a) {
		root.AddCommand(c)
	}
	return root
}

// subcommands lists every subcommand; each constructor lives in its own file.
func subcommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		// one line per subcommand file
		newInfoCmd(a), newLsCmd(a), newExtractCmd(a), newBenchCmd(a),
		newVerifyCmd(a), newSalvageCmd(a), newCarveCmd(a), newRescueCmd(a),
		newMountCmd(a), newUnmountCmd(a),
		newDaemonCmd(a), newListCmd(a), newStatusCmd(a), newServiceCmd(a),
		newDevicesCmd(a), newWriteCmd(a),
		newDrivesCmd(a), newBurnCmd(a),
		newOpenCmd(a), newDesktopCmd(a),
	}
}

func (a *app) setupLogging() error {
	lvl, err := logrus.ParseLevel(a.opts.logLevel)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("--log-level: %w", err))
	}
	a.log.SetLevel(lvl)
	switch a.opts.logFormat {
	case "text":
		a.log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: false, FullTimestamp: true})
	case "json":
		a.log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return withCode(exitUsage, fmt.Errorf("--log-format %q: want text or json", a.opts.logFormat))
	}
	return nil
}

func main() {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	a := &app{log: log}
	root := newRootCmd(a)
	root.SetArgs(rewriteArgs(filepath.Base(os.Args[0]), os.Args[1:]))
	cmd, err := root.ExecuteC()
	a.notifyFailure(cmd, err)
	os.Exit(report(err))
}

// rewriteArgs adapts argv for the mount-helper calling conventions; the
// mount subcommand file extends it.
func rewriteArgs(argv0 string, args []string) []string {
	if out, ok := mountHelperArgs(argv0, args); ok {
		return out
	}
	return args
}

// report prints err and returns the exit code.
func report(err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "isofsd: %v\n", err)
	}
	return exitCode(err)
}

// exitCode is the exit status for err (the contract in README.md).
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// cobra's own flag/arg errors are usage errors.
	return exitUsage
}
