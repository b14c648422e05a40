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
	"github.com/isofsd/isofsd/isofmt/s3src"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sourceFlags are the flags of every command that takes an IMAGE, which
// may be a local path, an http(s) URL or an s3://bucket/key URL.
type sourceFlags struct {
	headers   []string
	cacheDir  string
	cacheSize int64
	s3        s3Flags
}

// s3Flags configure the S3 client of s3:// images (credentials come from
// the standard AWS chain: environment, profile, instance role).
type s3Flags struct {
	endpoint  string
	pathStyle string
	profile   string
	noSign    bool
}

// addSourceFlags registers --header, --cache-dir and --cache-dir-size on
// cmd (the names mount uses too), and the S3 flags. --cache-size, the old
// name of --cache-dir-size here, is still accepted but hidden: on mount it
// is the sector cache, and one name must not mean two things in the docs.
func addSourceFlags(cmd *cobra.Command, f *sourceFlags) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.headers, "header", nil,
		`HTTP header sent with every request for a remote IMAGE, "Name: value" (repeatable; e.g. "Authorization: Bearer …")`)
	fl.StringVar(&f.cacheDir, "cache-dir", "",
		"keep the parts of a remote IMAGE that were read in this directory, so a later run reads them from disk")
	addCacheDirSizeFlag(fl, &f.cacheSize)
	sizeVar(fl, &f.cacheSize, "cache-size", httpsrc.DefaultDiskCache, 0, 1<<50, "old name of --cache-dir-size")
	fl.MarkHidden("cache-size")
	addS3Flags(fl, &f.s3)
}

// addCacheDirSizeFlag registers --cache-dir-size, the bound on --cache-dir.
func addCacheDirSizeFlag(fl *pflag.FlagSet, p *int64) {
	sizeVar(fl, p, "cache-dir-size", httpsrc.DefaultDiskCache, 0, 1<<50,
		"bound on --cache-dir (least recently used parts are dropped)")
}

// addS3Flags registers the flags of s3:// URLs.
func addS3Flags(fl *pflag.FlagSet, f *s3Flags) {
	fl.StringVar(&f.endpoint, "endpoint", "",
		"S3 endpoint URL for s3:// images on an S3-compatible store (MinIO, Ceph, SeaweedFS, Garage); default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS")
	enumVar(fl, &f.pathStyle, "path-style", "auto", []string{"auto", "on", "off"},
		"S3 addressing: on (http://host/bucket/key), off (http://bucket.host/key) or auto (on with a custom endpoint, off on AWS)")
	fl.StringVar(&f.profile, "profile", "", "AWS profile for s3:// images (default AWS_PROFILE, else \"default\")")
	fl.BoolVar(&f.noSign, "no-sign-request", false, "send s3:// requests unsigned (public buckets), without looking for credentials")
}

// options turns the flags into s3src.Options.
func (f *s3Flags) options() (s3src.Options, error) {
	ps, err := s3src.ParsePathStyle(f.pathStyle)
	if err != nil {
		return s3src.Options{}, fmt.Errorf("--path-style: %w", err)
	}
	return s3src.Options{Endpoint: f.endpoint, PathStyle: ps, Profile: f.profile, Anonymous: f.noSign}, nil
}

// isRemote reports whether an IMAGE argument is a URL (http, https, s3)
// rather than a local path.
func isRemote(s string) bool { return httpsrc.IsURL(s) || s3src.IsURL(s) }

// open opens pathOrURL with the flags' settings.
func (f *sourceFlags) open(ctx context.Context, a *app, pathOrURL, tree string) (*isofmt.Image, func() error, error) {
	return f.openWith(ctx, a, pathOrURL, &isofmt.Options{Tree: tree})
}

// openImage opens a local image or a remote one with the given HTTP
// headers and disk cache (tests use it).
func openImage(ctx context.Context, a *app, pathOrURL string, tree string, headers []string, cacheDir string) (*isofmt.Image, func() error, error) {
	f := &sourceFlags{headers: headers, cacheDir: cacheDir, cacheSize: httpsrc.DefaultDiskCache, s3: s3Flags{pathStyle: "auto"}}
	return f.open(ctx, a, pathOrURL, tree)
}

// openWith opens a local image (file or block device) or a remote one
// (http://, https:// or s3://, read with range requests). The returned
// function closes the image and its source (a remote source's disk cache
// map is written then). Failures to open carry exit code 2, as the CLI
// contract says.
func (f *sourceFlags) openWith(ctx context.Context, a *app, pathOrURL string, opts *isofmt.Options) (*isofmt.Image, func() error, error) {
	if !isRemote(pathOrURL) {
		if len(f.headers) > 0 || f.cacheDir != "" {
			a.warnf("%s: --header and --cache-dir apply only to remote images; ignored", pathOrURL)
		}
		img, err := isofmt.OpenFile(pathOrURL, opts)
		if err != nil {
			return nil, nil, withCode(exitUsage, err)
		}
		return img, img.Close, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	src, err := f.openRemote(ctx, pathOrURL, nil)
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

// openRemote opens an http(s) or s3 URL as a pinned range source; tune,
// if set, adjusts the source's options (downloads want no prefetch).
func (f *sourceFlags) openRemote(ctx context.Context, rawURL string, tune func(*httpsrc.Options)) (*httpsrc.Source, error) {
	hdr, err := parseHeaders(f.headers)
	if err != nil {
		return nil, err
	}
	o := httpsrc.Options{Header: hdr, CacheDir: f.cacheDir, CacheSize: f.cacheSize}
	if tune != nil {
		tune(&o)
	}
	if s3src.IsURL(rawURL) {
		if len(hdr) > 0 {
			return nil, fmt.Errorf("%s: --header does not apply to s3:// URLs (credentials come from the AWS configuration)", rawURL)
		}
		so, err := f.s3.options()
		if err != nil {
			return nil, err
		}
		return s3src.Open(ctx, rawURL, so, o)
	}
	return httpsrc.Open(ctx, rawURL, o)
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
