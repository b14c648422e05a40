package mounter

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// DefaultURLListEvery is how often a URL list that is itself a URL is
// fetched again.
const DefaultURLListEvery = time.Minute

// maxURLLine bounds one line of a URL list; maxURLs the URLs taken from
// one list.
const (
	maxURLLine = 8 << 10
	maxURLs    = 4096
)

// ParseURLList returns the image URLs of a list, and the lines that are
// not one (with their numbers), to be reported. Blank lines and comments
// are skipped; a URL listed twice counts once.
func ParseURLList(b []byte) (urls []string, bad []string) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1024), maxURLLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if !isImageURL(line) {
			bad = append(bad, fmt.Sprintf("line %d: %q is not an http://, https:// or s3:// URL", n, line))
			continue
		}
		if !seen[line] && len(urls) < maxURLs {
			seen[line] = true
			urls = append(urls, line)
		}
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Sprintf("line %d: %v", n+1, err))
	}
	return urls, bad
}

// isImageURL reports whether s is a URL the daemon can mount.
func isImageURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || strings.ContainsAny(s, " \t") {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "s3":
		return u.Path != "" && u.Path != "/"
	}
	return false
}

// URLName is the name an image URL is mounted under: its file name
// without the extension, or "remote" when that is not a usable name.
func URLName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "remote"
	}
	name := path.Base(u.Path)
	if p, err := url.PathUnescape(name); err == nil {
		name = p
	}
	name = strings.TrimSuffix(name, path.Ext(name))
	if name == "" || isofmt.CheckName(name) != nil || strings.HasPrefix(name, ".") {
		return "remote"
	}
	return name
}
