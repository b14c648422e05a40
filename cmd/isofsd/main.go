// Command isofsd opens, mounts, extracts, verifies, writes and recovers ISO
// 9660 / UDF images. Each subcommand lives in its own file; this file holds
// the root command, logging set-up and the exit-code contract.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

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
	// json is set with --log-format json.
	json bool
	// quiet suppresses desktop notifications (see notify.go).
	quiet bool
	// errw is the command's stderr, where messages go (see say).
	errw  io.Writer
	sayMu sync.Mutex
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "isofsd",
		Short:         "Open, mount, extract, verify, write and recover ISO 9660 / UDF images",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setupLogging(cmd)
		},
	}
	// --version prints what readBuildInfo finds (cobra adds the flag).
	root.Version = readBuildInfo().String()
	root.SetVersionTemplate("{{.Version}}")
	enumVar(root.PersistentFlags(), &a.opts.logLevel, "log-level", "info", logLevels, "log level: "+orList(logLevels))
	enumVar(root.PersistentFlags(), &a.opts.logFormat, "log-format", "text", logFormats,
		"log format: text, or json (then every line on stderr is a JSON object, the final error included)")
	for _, c := range subcommands(a) {
		root.AddCommand(c)
	}
	registerEnumCompletions(root)
	return root
}

// logLevels and logFormats are the words --log-level and --log-format take.
var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// subcommands lists every subcommand; each constructor lives in its own file.
func subcommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		// one line per subcommand file
		newInfoCmd(a), newLsCmd(a), newExtractCmd(a), newCatCmd(a), newBenchCmd(a),
		newVerifyCmd(a), newSalvageCmd(a), newCarveCmd(a), newRescueCmd(a),
		newMountCmd(a), newUnmountCmd(a),
		newDaemonCmd(a), newListCmd(a), newStatusCmd(a), newServiceCmd(a),
		newDevicesCmd(a), newWriteCmd(a),
		newDrivesCmd(a), newBurnCmd(a),
		newOpenCmd(a), newDesktopCmd(a),
		newFetchCmd(a), newRepairCmd(a),
		newManCmd(a),
	}
}

// setupLogging applies --log-level and --log-format. In JSON mode the
// lines commands write to stderr themselves (ls's and extract's messages)
// become log records too, so that every stderr line is JSON.
func (a *app) setupLogging(cmd *cobra.Command) error {
	lvl, err := logrus.ParseLevel(a.opts.logLevel)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("--log-level: %w", err))
	}
	a.log.SetLevel(lvl)
	a.setFormat(a.opts.logFormat == "json")
	if a.json {
		cmd.Root().SetErr(&jsonLines{log: a.log})
	}
	a.errw = cmd.ErrOrStderr()
	return nil
}

// setFormat picks the log formatter. Text messages pass through termSafe
// (logrus prints them raw on a terminal), JSON escapes by itself.
func (a *app) setFormat(json bool) {
	a.json = json
	if json {
		a.log.SetFormatter(&logrus.JSONFormatter{})
		return
	}
	a.log.SetFormatter(safeFormatter{&logrus.TextFormatter{FullTimestamp: true}})
}

func main() {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	a := &app{log: log}
	args := rewriteArgs(filepath.Base(os.Args[0]), os.Args[1:])
	// The final error must be JSON even when the command line fails to
	// parse before --log-format is reached.
	a.setFormat(jsonRequested(args))
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	a.notifyFailure(cmd, err)
	os.Exit(a.report(os.Stderr, err))
}

// rewriteArgs adapts argv for the mount-helper calling conventions; the
// mount subcommand file extends it.
func rewriteArgs(argv0 string, args []string) []string {
	if out, ok := mountHelperArgs(argv0, args); ok {
		return out
	}
	return args
}

// report prints err on stderr as text mode does and returns the exit code
// (for callers without an app).
func report(err error) int { return (&app{}).report(os.Stderr, err) }

// report prints err on w in one line (a JSON record with --log-format
// json) and returns the exit code.
func (a *app) report(w io.Writer, err error) int {
	code := exitCode(err)
	if err == nil {
		return code
	}
	if a.json {
		a.log.WithField("exit_code", code).Error(err.Error())
		return code
	}
	fmt.Fprintf(w, "isofsd: %s\n", termSafe(err.Error()))
	return code
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
