package recover

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
)

// SumEntry is one line of a checksum list.
type SumEntry struct {
	Algo string // "md5", "sha1", "sha256", "sha512"
	Sum  []byte
	Name string
}

// Limits for checksum lists; real ones are a few KiB.
const (
	maxSumLine    = 64 << 10
	maxSumEntries = 1_000_000
)

// algoByLen infers the hash from the hex length (GNU *sum lists do not
// name it).
func algoByLen(n int) string {
	switch n {
	case 32:
		return "md5"
	case 40:
		return "sha1"
	case 64:
		return "sha256"
	case 128:
		return "sha512"
	}
	return ""
}

// NewHash returns a hash for an algorithm name from SumEntry.
func NewHash(algo string) hash.Hash {
	switch algo {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// ParseSums reads a checksum list in GNU coreutils format
// ("HEX  NAME", "HEX *NAME", with "\"-escaped names) or BSD tag format
// ("SHA256 (NAME) = HEX"). Lines that are neither are skipped (distros add
// comments and PGP armour); an error is returned only when no line parses.
func ParseSums(r io.Reader) ([]SumEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSumLine)
	var out []SumEntry
	for sc.Scan() {
		if len(out) >= maxSumEntries {
			return out, fmt.Errorf("recover: checksum list longer than %d entries", maxSumEntries)
		}
		if e, ok := parseSumLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if len(out) == 0 {
		return nil, errors.New("recover: no checksum lines found")
	}
	return out, nil
}

func parseSumLine(line string) (SumEntry, bool) {
	line = strings.TrimRight(line, "\r")
	if line == "" || line[0] == '#' {
		return SumEntry{}, false
	}
	// BSD: ALGO (NAME) = HEX
	if i := strings.Index(line, " ("); i > 0 {
		if j := strings.LastIndex(line, ") = "); j > i {
			algo := strings.ToLower(strings.ReplaceAll(line[:i], "-", ""))
			sum, err := hex.DecodeString(strings.TrimSpace(line[j+4:]))
			if err == nil && algoByLen(2*len(sum)) == algo {
				return SumEntry{Algo: algo, Sum: sum, Name: line[i+2 : j]}, true
			}
		}
	}
	escaped := false
	if line[0] == '\\' {
		escaped, line = true, line[1:]
	}
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || sp+2 > len(line) {
		return SumEntry{}, false
	}
	algo := algoByLen(sp)
	sum, err := hex.DecodeString(line[:sp])
	if algo == "" || err != nil {
		return SumEntry{}, false
	}
	name := line[sp+1:]
	if name[0] == ' ' || name[0] == '*' {
		name = name[1:]
	}
	if escaped {
		name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(name)
	}
	if name == "" {
		return SumEntry{}, false
	}
	return SumEntry{Algo: algo, Sum: sum, Name: name}, true
}

// listNames are the checksum lists looked for inside an image, in its
// root and in the directories distributions use.
var listNames = []string{
	"md5sum.txt", "MD5SUMS", "md5sums.txt", "MD5SUMS.txt",
	"SHA256SUMS", "sha256sum.txt", "sha256sums.txt", "SHA256SUMS.txt",
	"SHA1SUMS", "sha1sum.txt", "SHA512SUMS", "sha512sum.txt",
}

// resolveListed turns a name from a list stored at dir into an image
// path; ok is false for names that climb out of the image.
func resolveListed(dir, name string) (string, bool) {
	name = strings.TrimPrefix(name, "./")
	if strings.HasPrefix(name, "/") {
		p := path.Clean(name)
		return p, true
	}
	p := path.Clean(path.Join(dir, name))
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	return p, true
}
