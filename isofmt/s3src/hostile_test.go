package s3src_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/s3src"
)

// quick keeps failures quick: no retries, no tail prefetch.
var quick = httpsrc.Options{Retries: -1, OpenTail: -1, OpenPrefetch: httpsrc.BlockSize}

// fakeS3 answers GetObject for /bkt/obj (path style) from data, letting
// reply rewrite the n-th answer (n counts from 1) before it is sent.
func fakeS3(t *testing.T, data []byte, reply func(n int, w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(count.Add(1))
		if r.URL.Path != "/bkt/obj" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
			return
		}
		if reply != nil && reply(n, w, r) {
			return
		}
		var a, z int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &z); err != nil || a >= int64(len(data)) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		z = min(z, int64(len(data))-1)
		if im := r.Header.Get("If-Match"); im != "" && im != `"v1"` {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, z, len(data)))
		w.Header().Set("Content-Length", strconv.FormatInt(z-a+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[a : z+1])
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHostileS3 is the table of lying or broken S3 answers: each gives a
// clear error (the sentinel callers branch on), never wrong bytes, a
// panic or an allocation sized by the server's claims.
func TestHostileS3(t *testing.T) {
	data := make([]byte, 512<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	xmlErr := func(status int, code string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0"?><Error><Code>%s</Code><Message>nope</Message></Error>`, code)
		}
	}
	for _, tc := range []struct {
		name    string
		at      int // which answer misbehaves: 1 is the opening one
		reply   func(w http.ResponseWriter)
		want    error
		mention string
	}{
		{"wrong Content-Range at open", 1, func(w http.ResponseWriter) {
			w.Header().Set("Content-Range", "bytes 0-99/524288")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:100])
		}, httpsrc.ErrProtocol, "Content-Range"},
		{"no Content-Range", 1, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:httpsrc.BlockSize])
		}, httpsrc.ErrProtocol, "Content-Range"},
		{"whole object for a range", 1, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusOK)
			w.Write(data)
		}, httpsrc.ErrNoRange, "whole object"},
		{"short body at open", 1, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", httpsrc.BlockSize-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(httpsrc.BlockSize))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:1000])
		}, nil, "short body"},
		{"size changes later", 2, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", 256<<10, 256<<10+httpsrc.BlockSize-1, 1<<40))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(make([]byte, httpsrc.BlockSize))
		}, httpsrc.ErrChanged, "Content-Range says"},
		{"ETag changes later", 2, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v2"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", 256<<10, 256<<10+httpsrc.BlockSize-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(make([]byte, httpsrc.BlockSize))
		}, httpsrc.ErrChanged, "ETag is now"},
		{"precondition failed later", 2, func(w http.ResponseWriter) {
			xmlErr(http.StatusPreconditionFailed, "PreconditionFailed")(w)
		}, httpsrc.ErrChanged, "no longer matches"},
		{"other range later", 2, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", httpsrc.BlockSize-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:httpsrc.BlockSize])
		}, httpsrc.ErrProtocol, "asked for bytes"},
		{"access denied", 1, xmlErr(http.StatusForbidden, "AccessDenied"), fs.ErrPermission, "AccessDenied"},
		{"garbage error body", 1, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte("\x00\xff<<not xml"))
		}, fs.ErrPermission, "403"},
		{"server error", 1, xmlErr(http.StatusInternalServerError, "InternalError"), nil, "InternalError"},
		{"claims an exabyte", 1, func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", httpsrc.BlockSize-1, int64(1)<<60))
			w.Header().Set("Content-Length", strconv.Itoa(httpsrc.BlockSize))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(make([]byte, httpsrc.BlockSize))
		}, httpsrc.ErrChanged, "Content-Range says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeS3(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n != tc.at {
					return false
				}
				tc.reply(w)
				return true
			})
			src, err := s3src.Open(context.Background(), "s3://bkt/obj", s3src.Options{Endpoint: srv.URL}, quick)
			if err == nil {
				// Opened (an exabyte claim is only a number): the answers
				// after the opening one must give the error.
				defer src.Close()
				_, err = src.ReadAt(make([]byte, 4096), 256<<10)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "s3://bkt/obj") {
				t.Errorf("error %q does not mention %q and the object", err, tc.mention)
			}
		})
	}
}

// TestParseURL: what an s3:// argument must look like.
func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in          string
		bucket, key string
		ok          bool
	}{
		{"s3://b/k.iso", "b", "k.iso", true},
		{"S3://b/dir/sub/k.iso", "b", "dir/sub/k.iso", true},
		{"s3://b/", "", "", false},
		{"s3://b", "", "", false},
		{"s3:///k", "", "", false},
		{"s3://b/dir/", "", "", false},
		{"s3://b%20x/k", "", "", false},
		{"http://b/k", "", "", false},
	} {
		b, k, err := s3src.ParseURL(tc.in)
		if (err == nil) != tc.ok || b != tc.bucket || k != tc.key {
			t.Errorf("ParseURL(%q) = %q %q %v", tc.in, b, k, err)
		}
	}
	if s3src.IsURL("s3:/x") || !s3src.IsURL("s3://x/y") || s3src.IsURL("/tmp/s3://x") {
		t.Error("IsURL")
	}
}

// FuzzParseURL: any argument parses or fails cleanly, and what parses
// names a bucket and an object.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://b/k.iso", "s3://b/", "s3://a/b/c/", "s3://%/x", "s3://b/k\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := s3src.ParseURL(s)
		if err == nil && (b == "" || k == "" || strings.Contains(b, "/")) {
			t.Fatalf("ParseURL(%q) = %q %q", s, b, k)
		}
	})
}
