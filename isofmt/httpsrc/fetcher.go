package httpsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// A Fetcher speaks one protocol to one remote object: it sends a range
// request and returns the answer in HTTP's terms (status, Content-Range,
// validators, body). Source does everything else — pinning the object,
// checking every answer against the request, caching, read-ahead,
// retries, stall timeouts — the same way whatever the protocol. This
// package's own Fetcher speaks HTTP(S); s3src's speaks S3 through the AWS
// SDK.
type Fetcher interface {
	// Fetch asks for bytes r.First..r.Last (inclusive) of the object.
	// An error worth retrying (a lost connection, a server error) is
	// marked with Retryable. The answer is checked by the caller, which
	// closes its Body.
	Fetch(ctx context.Context, r Request) (*Response, error)
	// Name names the object in messages and keys its disk cache entry;
	// it carries no credentials.
	Name() string
}

// Request is one range request.
type Request struct {
	// First and Last are the first and last byte asked for.
	First, Last int64
	// IfRange is the strong validator (ETag or Last-Modified) the object
	// was pinned by, "" when opening: the answer must come from that
	// object or say it cannot. HTTP sends If-Range (another object comes
	// back whole, as 200); S3 sends If-Match (412 Precondition Failed).
	IfRange string
	// IfNoneMatch (an ETag) or IfModifiedSince (an HTTP date) make the
	// opening request conditional on the object a disk cache holds: an
	// unchanged object answers 304 Not Modified with no body.
	IfNoneMatch, IfModifiedSince string
}

// Response is the answer to a Request.
type Response struct {
	// StatusCode and Status as HTTP has them (206, "206 Partial Content").
	StatusCode int
	Status     string
	// ContentRange, ContentEncoding, ETag and LastModified are the
	// header values ("" when absent).
	ContentRange    string
	ContentEncoding string
	ETag            string
	LastModified    string
	// ContentLength is the body's announced length, -1 if unknown.
	ContentLength int64
	// Body is the response body; never nil.
	Body io.ReadCloser
}

// Retryable marks err as a failure worth retrying: a lost connection, a
// timeout, a server error.
func Retryable(err error) error { return &netError{err} }

// httpFetcher is the Fetcher of http:// and https:// URLs.
type httpFetcher struct {
	url    string
	hdr    http.Header
	client *http.Client
}

func (h *httpFetcher) Name() string { return redact(h.url) }

func (h *httpFetcher) Fetch(ctx context.Context, r Request) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h.hdr {
		req.Header[k] = append([]string(nil), v...)
	}
	// Host is a field, not a header, in net/http.
	if host := h.hdr.Get("Host"); host != "" {
		req.Host = host
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r.First, r.Last))
	if r.IfRange != "" {
		req.Header.Set("If-Range", r.IfRange)
	}
	if r.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", r.IfNoneMatch)
	}
	if r.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", r.IfModifiedSince)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, Retryable(stripURL(err))
	}
	return &Response{
		StatusCode: resp.StatusCode, Status: resp.Status,
		ContentRange: resp.Header.Get("Content-Range"), ContentEncoding: resp.Header.Get("Content-Encoding"),
		ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
		ContentLength: resp.ContentLength, Body: resp.Body,
	}, nil
}

// newHTTPFetcher checks rawURL and builds its Fetcher.
func newHTTPFetcher(rawURL string, opts Options) (*httpFetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("httpsrc: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("httpsrc: %s: not an http or https URL", redact(rawURL))
	}
	u.Fragment = ""
	f := &httpFetcher{url: u.String(), hdr: opts.Header.Clone()}
	if f.hdr == nil {
		f.hdr = http.Header{}
	}
	if opts.Client != nil {
		// A copy, so that the redirect policy below never changes a
		// client the caller shares with others.
		c := *opts.Client
		f.client = &c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opts.concurrency() + 2
		tr.ForceAttemptHTTP2 = true
		// Compression would break byte ranges.
		tr.DisableCompression = true
		f.client = &http.Client{Transport: tr}
	}
	f.client.CheckRedirect = f.checkRedirect(f.client.CheckRedirect)
	return f, nil
}

// maxRedirects is net/http's own limit, kept when a CheckRedirect is set.
const maxRedirects = 10

// ownHeaders are the headers Fetch sets itself, per request: they say
// which bytes of which object are wanted, carry no secret, and must
// reach the server that finally answers.
var ownHeaders = map[string]bool{"Range": true, "If-Range": true, "If-None-Match": true, "If-Modified-Since": true}

// checkRedirect returns the client's redirect policy: the user's headers
// (Options.Header, from --header) go only to the origin — scheme, host
// and port — of the URL they were given for. A redirect anywhere else is
// followed without them, and so is one that passed through another
// origin on the way (A → B → A). net/http alone would forward them: it
// strips only Authorization, WWW-Authenticate and Cookie, only when the
// host changes, and keeps Authorization on https → http to the same
// host.
//
// Why drop rather than refuse: that is what curl users expect. curl
// follows the redirect (-L) and does not send credentials to a
// different scheme, host or port (since 7.83, CVE-2022-27776) unless
// --location-trusted; public mirrors redirect to CDNs that need no
// token, and refusing would break those downloads. curl drops only
// Authorization and Cookie, though; here every --header is dropped,
// since a token travels as well in PRIVATE-TOKEN or X-JFrog-Art-Api,
// and the program cannot tell a secret header from another. A server
// that needed them answers 401/403, which names the status.
func (h *httpFetcher) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if next != nil {
			if err := next(req, via); err != nil {
				return err
			}
		} else if len(via) >= maxRedirects {
			return errors.New("stopped after 10 redirects")
		}
		if len(via) == 0 {
			return nil
		}
		left := !sameOrigin(via[0].URL, req.URL)
		for _, r := range via[1:] {
			left = left || !sameOrigin(via[0].URL, r.URL)
		}
		if left {
			for k := range h.hdr {
				if !ownHeaders[k] {
					req.Header.Del(k)
				}
			}
			// Host is not a header in net/http (see Fetch); it keeps a
			// custom one only across relative redirects, which stay on
			// the origin, but say so here too.
			req.Host = ""
		}
		return nil
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (an absent port is the scheme's default). https → http to the same
// host is another origin, so a token is never sent in the clear.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// port is u's port, or its scheme's default.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
