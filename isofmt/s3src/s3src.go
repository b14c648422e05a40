// Package s3src reads s3://bucket/key objects: an httpsrc.Fetcher that
// speaks S3 through the AWS SDK for Go v2, so an object in a bucket is
// opened, pinned, checked, cached and read ahead by the same engine as an
// http(s) image.
//
// Why aws-sdk-go-v2 rather than minio-go: it is AWS's own, maintained
// client and carries the whole standard credential chain — environment,
// shared config and credentials files with profiles (SSO, assumed roles,
// credential_process), web identity tokens (EKS IRSA), ECS container
// credentials and EC2 instance roles — plus AWS_ENDPOINT_URL(_S3) and the
// profile's endpoint_url, exactly as the AWS CLI resolves them. minio-go
// covers only part of that chain (no SSO, no role assumption from a
// profile). S3-compatible stores (MinIO, Ceph RGW, SeaweedFS, Garage)
// are reached with an endpoint and path-style addressing.
//
// The object is pinned by its ETag: every later range request carries
// If-Match, so a replaced object answers 412 Precondition Failed, and the
// ETag of every answer is compared as well (for stores that ignore
// If-Match): reads then fail with httpsrc.ErrChanged rather than mixing
// two objects. The SDK's own retries are turned off: httpsrc retries
// with backoff, resumes where a body broke off and cuts stalled requests.
package s3src

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
)

// Scheme is the URL scheme this package reads.
const Scheme = "s3://"

// DefaultRegion signs requests when neither the environment nor the
// profile names a region: S3-compatible stores accept any, and AWS
// itself redirects other regions' buckets with a clear error.
const DefaultRegion = "us-east-1"

// PathStyle chooses how requests name the bucket.
type PathStyle int

const (
	// PathStyleAuto uses the path (http://host/bucket/key) when an
	// endpoint other than AWS's is configured, where wildcard DNS for
	// bucket host names is rarely set up, and the host name
	// (bucket.s3.region.amazonaws.com) on AWS.
	PathStyleAuto PathStyle = iota
	// PathStyleOn always puts the bucket in the path.
	PathStyleOn
	// PathStyleOff always puts the bucket in the host name.
	PathStyleOff
)

// ParsePathStyle reads "auto", "on" or "off".
func ParsePathStyle(s string) (PathStyle, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return PathStyleAuto, nil
	case "on", "true", "yes":
		return PathStyleOn, nil
	case "off", "false", "no":
		return PathStyleOff, nil
	}
	return 0, fmt.Errorf("path style %q: want auto, on or off", s)
}

// Options configure the S3 client. The zero value uses the standard AWS
// configuration (environment, profile, instance role) and AWS's
// endpoints.
type Options struct {
	// Endpoint is the URL of an S3-compatible service
	// ("http://127.0.0.1:8333"); "" leaves it to AWS_ENDPOINT_URL_S3,
	// AWS_ENDPOINT_URL or the profile's endpoint_url, else AWS.
	Endpoint string
	// PathStyle chooses path-style or virtual-host addressing.
	PathStyle PathStyle
	// Profile selects a shared-config profile ("" uses AWS_PROFILE or
	// "default").
	Profile string
	// Anonymous sends unsigned requests (public buckets), as the AWS
	// CLI's --no-sign-request.
	Anonymous bool
	// Concurrency sizes the connection pool (httpsrc's default if 0).
	Concurrency int
}

// IsURL reports whether an image argument is an s3:// URL.
func IsURL(s string) bool { return len(s) >= len(Scheme) && strings.EqualFold(s[:len(Scheme)], Scheme) }

// ParseURL splits s3://bucket/key. The key keeps its slashes; a bucket
// name with characters S3 never allows is refused here rather than sent.
func ParseURL(raw string) (bucket, key string, err error) {
	if !IsURL(raw) {
		return "", "", fmt.Errorf("s3src: %q is not an s3://bucket/key URL", raw)
	}
	rest := raw[len(Scheme):]
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf("s3src: %q: want s3://bucket/key (an object, not a bucket or folder)", raw)
	}
	if len(bucket) > 255 || strings.ContainsAny(bucket, " /\\?#%\x00") {
		return "", "", fmt.Errorf("s3src: %q: invalid bucket name %q", raw, bucket)
	}
	return bucket, key, nil
}

// NewClient builds an S3 client from the standard AWS configuration and
// opts.
func NewClient(ctx context.Context, opts Options) (*s3.Client, error) {
	var lo []func(*config.LoadOptions) error
	if opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.Profile))
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = httpsrc.DefaultConcurrency
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = conc + 2
		// Compression would break byte ranges.
		tr.DisableCompression = true
	})
	lo = append(lo, config.WithHTTPClient(hc))
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("s3src: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if opts.Anonymous {
		cfg.Credentials = aws.AnonymousCredentials{}
	}
	custom := opts.Endpoint != "" || cfg.BaseEndpoint != nil ||
		os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3src: endpoint %q: want http(s)://host[:port]", opts.Endpoint)
		}
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle == PathStyleOn || (opts.PathStyle == PathStyleAuto && custom)
		// httpsrc retries (with resumption and stall cuts); the SDK
		// retrying underneath would multiply the attempts.
		o.Retryer = aws.NopRetryer{}
		// Whole-object checksums cannot be checked on ranges; uploads
		// (tests, tools) send them only where S3 requires them, which
		// every S3-compatible store understands.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}), nil
}

// Fetcher reads one object with ranged GetObject calls.
type Fetcher struct {
	client      *s3.Client
	bucket, key string
}

// NewFetcher returns the Fetcher of the object rawURL names.
func NewFetcher(ctx context.Context, rawURL string, opts Options) (*Fetcher, error) {
	bucket, key, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Fetcher{client: c, bucket: bucket, key: key}, nil
}

// Sibling returns the Fetcher of another object in the same bucket,
// named relative to this one's "folder" (SHA256SUMS beside an image).
func (f *Fetcher) Sibling(name string) *Fetcher {
	dir := ""
	if i := strings.LastIndexByte(f.key, '/'); i >= 0 {
		dir = f.key[:i+1]
	}
	return &Fetcher{client: f.client, bucket: f.bucket, key: dir + name}
}

// Open opens rawURL as an image source: the object pinned by its ETag,
// read through httpsrc's caches (src's settings) with the client opts
// describe.
func Open(ctx context.Context, rawURL string, opts Options, src httpsrc.Options) (*httpsrc.Source, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = src.Concurrency
	}
	f, err := NewFetcher(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	return httpsrc.OpenFetcher(ctx, f, src)
}

// Name is the object's s3:// URL.
func (f *Fetcher) Name() string { return Scheme + f.bucket + "/" + f.key }

// Fetch sends one ranged GetObject. The pinning validator becomes
// If-Match (an ETag) or If-Unmodified-Since (a date); the disk cache's
// conditions become If-None-Match or If-Modified-Since. Answers S3 gives
// as errors but httpsrc reads as statuses (304, 412, 416) come back as
// responses; other failures as errors naming S3's error code.
func (f *Fetcher) Fetch(ctx context.Context, r httpsrc.Request) (*httpsrc.Response, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(f.key),
		Range: aws.String("bytes=" + strconv.FormatInt(r.First, 10) + "-" + strconv.FormatInt(r.Last, 10)),
	}
	if v := r.IfRange; v != "" {
		if strings.HasPrefix(v, `"`) {
			in.IfMatch = aws.String(v)
		} else if t, err := http.ParseTime(v); err == nil {
			in.IfUnmodifiedSince = aws.Time(t)
		}
	}
	if r.IfNoneMatch != "" {
		in.IfNoneMatch = aws.String(r.IfNoneMatch)
	} else if r.IfModifiedSince != "" {
		if t, err := http.ParseTime(r.IfModifiedSince); err == nil {
			in.IfModifiedSince = aws.Time(t)
		}
	}
	out, err := f.client.GetObject(ctx, in)
	if err != nil {
		return f.failure(err)
	}
	resp := &httpsrc.Response{ContentLength: -1, Body: out.Body}
	if raw, ok := awsmw.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		fill(resp, raw.Response)
	} else {
		// Not reached with the SDK's HTTP transport; keep what the
		// parsed output says.
		resp.StatusCode, resp.Status = http.StatusPartialContent, "206 Partial Content"
		resp.ContentRange, resp.ETag = aws.ToString(out.ContentRange), aws.ToString(out.ETag)
		if out.ContentLength != nil {
			resp.ContentLength = *out.ContentLength
		}
	}
	return resp, nil
}

// fill copies what httpsrc checks from an HTTP response.
func fill(resp *httpsrc.Response, h *http.Response) {
	resp.StatusCode, resp.Status = h.StatusCode, h.Status
	resp.ContentRange = h.Header.Get("Content-Range")
	resp.ContentEncoding = h.Header.Get("Content-Encoding")
	resp.ETag = h.Header.Get("ETag")
	resp.LastModified = h.Header.Get("Last-Modified")
	resp.ContentLength = h.ContentLength
}

// failure turns a GetObject error into what httpsrc expects: a status
// response for the answers it reads as statuses, a retryable error for
// lost connections and server errors, else a final error naming S3's
// code (NoSuchKey, AccessDenied, InvalidAccessKeyId …) and wrapping
// fs.ErrNotExist or fs.ErrPermission where they apply.
func (f *Fetcher) failure(err error) (*httpsrc.Response, error) {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		code := re.HTTPStatusCode()
		switch code {
		case http.StatusNotModified, http.StatusPreconditionFailed, http.StatusRequestedRangeNotSatisfiable:
			resp := &httpsrc.Response{Body: io.NopCloser(strings.NewReader(""))}
			fill(resp, re.Response.Response)
			return resp, nil
		}
		msg := describe(err, code)
		switch {
		case code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
			return nil, httpsrc.Retryable(errors.New(msg))
		case code == http.StatusNotFound:
			return nil, fmt.Errorf("%s: %w", msg, fs.ErrNotExist)
		case code == http.StatusForbidden || code == http.StatusUnauthorized:
			return nil, fmt.Errorf("%s: %w", msg, fs.ErrPermission)
		}
		return nil, errors.New(msg)
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		return nil, httpsrc.Retryable(fmt.Errorf("s3: %w", se.Err))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// httpsrc's stall timer or the caller: httpsrc says which.
		return nil, err
	}
	return nil, fmt.Errorf("s3: %w", unwrapOperation(err))
}

// describe says what S3 answered: its error code and message, and the
// HTTP status, without the SDK's request-ID noise.
func describe(err error, status int) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := ae.ErrorMessage()
		code := ae.ErrorCode()
		if hint := hints[code]; hint != "" {
			msg = strings.TrimSpace(msg + " " + hint)
		}
		if msg != "" {
			return fmt.Sprintf("s3: %s: %s (HTTP %d)", code, msg, status)
		}
		return fmt.Sprintf("s3: %s (HTTP %d)", code, status)
	}
	return fmt.Sprintf("s3: HTTP %d %s", status, http.StatusText(status))
}

// hints add what to do about the errors people meet first. Some stores
// send no message for them (HEAD-like answers, or terse XML).
var hints = map[string]string{
	"NoSuchBucket":          "(the bucket does not exist)",
	"NoSuchKey":             "(no object has that key)",
	"InvalidAccessKeyId":    "(check AWS_ACCESS_KEY_ID or the profile's credentials)",
	"SignatureDoesNotMatch": "(check the secret key)",
	"AccessDenied":          "(the credentials may not read this object)",
	"PermanentRedirect":     "(the bucket is in another region: set AWS_REGION)",
}

// unwrapOperation drops the SDK's "operation error S3: GetObject, …"
// wrapper around errors that happen before a request is sent (no
// credentials found, a bad endpoint).
func unwrapOperation(err error) error {
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
