package main

import (
	"bytes"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

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
