package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/s3src"
	"github.com/isofsd/isofsd/recover"
	"github.com/isofsd/isofsd/sumsig"
)

// MaxList bounds a checksum list or signature read from a server: real
// ones are a few KiB.
const MaxList = 16 << 20

// ListNames are the checksum lists looked for beside an image, in order;
// "%s" stands for the image's file name.
var ListNames = []string{
	"SHA256SUMS", "SHA512SUMS", "sha256sum.txt", "sha256sums.txt", "%s.sha256", "%s.sha256sum",
	"MD5SUMS", "md5sum.txt", "%s.md5",
}

// Published is what a publisher put beside an image to check it by.
type Published struct {
	// List names the checksum list used ("SHA256SUMS"), "" if none names
	// the image.
	List string
	// Entries are the list's entries; Entry is the one for the image,
	// the checksum the file is held to.
	Entries []recover.SumEntry
	Entry   *recover.SumEntry
	// Signature is the verdict on the list's signature.
	Signature *sumsig.Result
	// Notes are problems met on the way (an unreadable list, say).
	Notes []string
}

// FindPublished looks beside the image (named image, as the list names
// it) for the first checksum list of ListNames that has an entry for it,
// and checks the list's signature against kr (nil: signatures are
// reported but not checked).
func FindPublished(image string, get sumsig.Getter, kr *sumsig.Keyring) (*Published, error) {
	p := &Published{}
	for _, pattern := range ListNames {
		name := pattern
		if strings.Contains(pattern, "%s") {
			name = fmt.Sprintf(pattern, image)
		}
		data, err := get(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		sig, err := sumsig.Check(name, data, get, kr)
		if err != nil {
			p.Notes = append(p.Notes, err.Error())
			continue
		}
		entries, err := recover.ParseSums(bytes.NewReader(sig.Text))
		if err != nil {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		// A list made for the image alone (image.sha256) may name it
		// otherwise, but a signed one vouches only for what it names.
		e := entryFor(entries, image, strings.Contains(pattern, "%s") && kr == nil)
		if e == nil {
			p.Notes = append(p.Notes, fmt.Sprintf("%s does not name %s", name, image))
			continue
		}
		p.List, p.Entries, p.Entry, p.Signature = name, entries, e, sig
		return p, nil
	}
	return p, nil
}

// entryFor returns the entry naming image; with own (a list made for the
// image alone, image.sha256, not checked against a keyring) its single
// entry whatever name it gives.
func entryFor(entries []recover.SumEntry, image string, own bool) *recover.SumEntry {
	for i, e := range entries {
		n := strings.TrimPrefix(e.Name, "./")
		if n == image || path.Base(n) == image {
			return &entries[i]
		}
	}
	if own && len(entries) == 1 {
		return &entries[0]
	}
	return nil
}

// SiblingURL is the URL of name published beside the object rawURL
// names (its "directory"). The query of an http(s) URL is dropped: a
// presigned URL's signature is for the image alone.
func SiblingURL(rawURL, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\?#") || name == "." || name == ".." {
		return "", fmt.Errorf("fetch: %q is not a file name", name)
	}
	if s3src.IsURL(rawURL) {
		if _, _, err := s3src.ParseURL(rawURL); err != nil {
			return "", err
		}
		return rawURL[:strings.LastIndexByte(rawURL, '/')+1] + name, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("fetch: %w", err)
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return u.ResolveReference(&url.URL{Path: url.PathEscape(name)}).String(), nil
}

// FileName is the name the object rawURL names has in its directory.
func FileName(rawURL string) string {
	if s3src.IsURL(rawURL) {
		return rawURL[strings.LastIndexByte(rawURL, '/')+1:]
	}
	if u, err := url.Parse(rawURL); err == nil {
		if p, err := url.PathUnescape(path.Base(u.Path)); err == nil {
			return p
		}
	}
	return path.Base(rawURL)
}

// Opener opens a remote object (the CLI's, with its headers, S3 settings
// and cache).
type Opener func(ctx context.Context, rawURL string) (*httpsrc.Source, error)

// RemoteGetter reads small objects published beside rawURL, whole (up to
// MaxList bytes). An object the server does not have is fs.ErrNotExist.
func RemoteGetter(ctx context.Context, open Opener, rawURL string) sumsig.Getter {
	return func(name string) ([]byte, error) {
		u, err := SiblingURL(rawURL, name)
		if err != nil {
			return nil, err
		}
		return ReadObject(ctx, open, u, MaxList)
	}
}

// ReadObject reads the object at rawURL whole, refusing one larger than
// max bytes before reading it. An object the server does not have is
// fs.ErrNotExist.
func ReadObject(ctx context.Context, open Opener, rawURL string, max int64) ([]byte, error) {
	src, err := open(ctx, rawURL)
	if err != nil {
		var se *httpsrc.StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
			return nil, fmt.Errorf("%s: %w", src0(rawURL), fs.ErrNotExist)
		}
		return nil, err
	}
	defer src.Close()
	if src.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d expected here", src.URL(), src.Size(), max)
	}
	b := make([]byte, src.Size())
	if err := src.CopyRange(ctx, byteWriter(b), 0, src.Size(), nil); err != nil {
		return nil, err
	}
	return b, nil
}

// src0 names a URL in messages without its query.
func src0(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// byteWriter is an io.WriterAt over a slice sized in advance.
type byteWriter []byte

func (b byteWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) || int64(len(p)) > int64(len(b))-off {
		return 0, fmt.Errorf("fetch: write of %d bytes at %d outside %d", len(p), off, len(b))
	}
	return copy(b[off:], p), nil
}
