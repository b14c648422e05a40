package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Messages and the log (the rule README's "Every subcommand" paragraph
// states). What a command says to the person running it — a warning, a
// note, progress when stderr is no terminal — is a plain line on stderr,
// "isofsd: MSG" or "isofsd: warning: MSG", like the final error; its
// result goes to stdout. --log-level filters these lines as it filters
// the log (warn hides notes, error hides warnings too), and with
// --log-format json each is a JSON record like every stderr line. The log
// proper — timestamped logrus lines — is what daemons and background
// mounts write (--log-file, syslog) and what --log-level debug and trace
// add to a command's stderr.

// notef tells the user something worth knowing (info level).
func (a *app) notef(format string, args ...any) { a.say(logrus.InfoLevel, format, args...) }

// warnf warns the user (warn level).
func (a *app) warnf(format string, args ...any) { a.say(logrus.WarnLevel, format, args...) }

func (a *app) say(level logrus.Level, format string, args ...any) {
	if !a.log.IsLevelEnabled(level) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if a.json {
		a.log.Log(level, msg)
		return
	}
	prefix := "isofsd: "
	if level <= logrus.WarnLevel {
		prefix += "warning: "
	}
	a.sayMu.Lock()
	defer a.sayMu.Unlock()
	fmt.Fprintf(a.stderr(), "%s%s\n", prefix, termSafe(msg))
}

// stderr is where messages go: the command's stderr (tests capture it),
// else the process's.
func (a *app) stderr() io.Writer {
	if a.errw != nil {
		return a.errw
	}
	return os.Stderr
}

// userLog is the narrow Logger of packages that log (writer.Logger) for
// a command run by a person: their notes and warnings are messages,
// their debug lines the log.
type userLog struct{ a *app }

func (l userLog) Debugf(format string, args ...any) { l.a.log.Debugf(format, args...) }
func (l userLog) Infof(format string, args ...any)  { l.a.notef(format, args...) }
func (l userLog) Warnf(format string, args ...any)  { l.a.warnf(format, args...) }

// jsonRequested reports whether args ask for --log-format json, read
// before cobra parses them: a bad flag earlier on the line stops the
// parse, and its error must still come out as JSON.
func jsonRequested(args []string) bool {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "--log-format=json" || (a == "--log-format" && i+1 < len(args) && args[i+1] == "json") {
			return true
		}
	}
	return false
}

// jsonLines turns the lines commands write to stderr into log records
// (level warning, the "isofsd: " prefix dropped), for --log-format json.
type jsonLines struct {
	log *logrus.Logger
	mu  sync.Mutex
	buf []byte
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimPrefix(string(j.buf[:i]), "isofsd: ")
		j.buf = j.buf[i+1:]
		if strings.TrimSpace(line) != "" {
			j.log.Warn(line)
		}
	}
	return len(p), nil
}

// safeFormatter passes every message and string field through termSafe
// before the text formatter: on a terminal logrus prints messages as they
// are, and messages quote names the image supplies.
type safeFormatter struct{ logrus.Formatter }

func (f safeFormatter) Format(e *logrus.Entry) ([]byte, error) {
	clean := !isTermSafe(e.Message)
	for _, v := range e.Data {
		if s, ok := v.(string); ok && !isTermSafe(s) {
			clean = true
		}
	}
	if !clean {
		return f.Formatter.Format(e)
	}
	c := *e
	c.Message = termSafe(e.Message)
	c.Data = make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		if s, ok := v.(string); ok {
			v = termSafe(s)
		}
		c.Data[k] = v
	}
	return f.Formatter.Format(&c)
}
