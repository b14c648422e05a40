package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sourceFlags are the flags of every command that takes an IMAGE, which
// may be a local path or an http(s) URL.
type sourceFlags struct {
	headers   []string
	cacheDir  string
	cacheSize int64
}

// addSourceFlags registers --header, --cache-dir and --cache-dir-size on
// cmd (the names mount uses too). --cache-size, the old name of
// --cache-dir-size here, is still accepted but hidden: on mount it is the
// sector cache, and one name must not mean two things in the docs.
func addSourceFlags(cmd *cobra.Command, f *sourceFlags) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.headers, "header", nil,
		`HTTP header sent with every request for a remote IMAGE, "Name: value" (repeatable; e.g. "Authorization: Bearer …")`)
	fl.StringVar(&f.cacheDir, "cache-dir", "",
		"keep the parts of a remote IMAGE that were read in this directory, so a later run reads them from disk")
	addCacheDirSizeFlag(fl, &f.cacheSize)
	sizeVar(fl, &f.cacheSize, "cache-size", httpsrc.DefaultDiskCache, 0, 1<<50, "old name of --cache-dir-size")
	fl.MarkHidden("cache-size")
}

// addCacheDirSizeFlag registers --cache-dir-size, the bound on --cache-dir.
func addCacheDirSizeFlag(fl *pflag.FlagSet, p *int64) {
	sizeVar(fl, p, "cache-dir-size", httpsrc.DefaultDiskCache, 0, 1<<50,
		"bound on --cache-dir (least recently used parts are dropped)")
}

// open opens pathOrURL with the flags' settings.
func (f *sourceFlags) open(ctx context.Context, a *app, pathOrURL, tree string) (*isofmt.Image, func() error, error) {
	return openImageSized(ctx, a, pathOrURL, &isofmt.Options{Tree: tree}, f.headers, f.cacheDir, f.cacheSize)
}

// openImage opens a local image (file or block device) or a remote one
// (http:// or https://, read with Range requests). The returned function
// closes the image and its source (a remote source's disk cache map is
// written then). Failures to open carry exit code 2, as the CLI contract
// says.
func openImage(ctx context.Context, a *app, pathOrURL string, tree string, headers []string, cacheDir string) (*isofmt.Image, func() error, error) {
	return openImageSized(ctx, a, pathOrURL, &isofmt.Options{Tree: tree}, headers, cacheDir, httpsrc.DefaultDiskCache)
}

func openImageSized(ctx context.Context, a *app, pathOrURL string, opts *isofmt.Options, headers []string, cacheDir string, cacheSize int64) (*isofmt.Image, func() error, error) {
	if !httpsrc.IsURL(pathOrURL) {
		if len(headers) > 0 || cacheDir != "" {
			a.warnf("%s: --header and --cache-dir apply only to http(s) URLs; ignored", pathOrURL)
		}
		img, err := isofmt.OpenFile(pathOrURL, opts)
		if err != nil {
			return nil, nil, withCode(exitUsage, err)
		}
		return img, img.Close, nil
	}
	hdr, err := parseHeaders(headers)
	if err != nil {
		return nil, nil, withCode(exitUsage, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	src, err := httpsrc.Open(ctx, pathOrURL, httpsrc.Options{Header: hdr, CacheDir: cacheDir, CacheSize: cacheSize})
	if err != nil {
		return nil, nil, withCode(exitUsage, err)
	}
	img, err := isofmt.Open(src, src.Size(), opts)
	if err != nil {
		src.Close()
		return nil, nil, withCode(exitUsage, fmt.Errorf("%s: %w", src.URL(), err))
	}
	a.log.WithField("image", src.URL()).WithField("size", src.Size()).WithField("etag", src.ETag()).
		Debug("opened remote image")
	closer := func() error {
		st := src.Stats()
		a.log.WithField("image", src.URL()).WithField("requests", st.Requests).WithField("bytes", st.Bytes).
			WithField("retries", st.Retries).WithField("mem_hits", st.MemHits).WithField("disk_hits", st.DiskHits).
			Debug("closing remote image")
		return errors.Join(img.Close(), src.Close())
	}
	return img, closer, nil
}

// parseHeaders turns "Name: value" strings into a header set.
func parseHeaders(list []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range list {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", s)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	return h, nil
}
