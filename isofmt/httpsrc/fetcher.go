package httpsrc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	f := &httpFetcher{url: u.String(), hdr: opts.Header.Clone(), client: opts.Client}
	if f.hdr == nil {
		f.hdr = http.Header{}
	}
	if f.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opts.concurrency() + 2
		tr.ForceAttemptHTTP2 = true
		// Compression would break byte ranges.
		tr.DisableCompression = true
		f.client = &http.Client{Transport: tr}
	}
	return f, nil
}
