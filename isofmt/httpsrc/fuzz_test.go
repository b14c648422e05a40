package httpsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// scripted is a Fetcher whose answers tests write: answer n (from 0)
// comes from script(n, request); the default serves data properly.
type scripted struct {
	data   []byte
	etag   string
	n      int
	script func(n int, r Request) *Response
}

func (s *scripted) Name() string { return "fuzz://object" }

func (s *scripted) Fetch(ctx context.Context, r Request) (*Response, error) {
	n := s.n
	s.n++
	if s.script != nil {
		if resp := s.script(n, r); resp != nil {
			return resp, nil
		}
	}
	if r.First < 0 || r.First >= int64(len(s.data)) || r.Last < r.First {
		return &Response{StatusCode: 416, Status: "416 Range Not Satisfiable", ContentRange: fmt.Sprintf("bytes */%d", len(s.data)), ContentLength: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
	}
	last := min(r.Last, int64(len(s.data))-1)
	body := s.data[r.First : last+1]
	return &Response{StatusCode: 206, Status: "206 Partial Content", ETag: s.etag,
		ContentRange: fmt.Sprintf("bytes %d-%d/%d", r.First, last, len(s.data)), ContentLength: int64(len(body)),
		Body: io.NopCloser(bytes.NewReader(body))}, nil
}

var fuzzOpts = Options{Retries: -1, OpenPrefetch: BlockSize, OpenTail: -1, MinChunk: BlockSize, MaxChunk: BlockSize}

// FuzzAnswers: whatever a server answers to a range request after the
// object was pinned — any status, Content-Range, ETag, length or body —
// a read returns the pinned object's bytes or an error, never other
// bytes, and never panics or allocates by the server's claims.
func FuzzAnswers(f *testing.F) {
	f.Add(uint16(206), "bytes 131072-196607/262144", `"v1"`, int64(65536), []byte("short"))
	f.Add(uint16(200), "", `"v2"`, int64(-1), []byte("whole"))
	f.Add(uint16(206), "bytes 131072-196607/999999999999", `"v1"`, int64(65536), make([]byte, 65536))
	f.Add(uint16(412), "", "", int64(0), []byte(nil))
	f.Add(uint16(206), "bytes 0-65535/262144", `"v1"`, int64(65536), make([]byte, 65536))
	data := make([]byte, 4*BlockSize)
	for i := range data {
		data[i] = byte(i * 13)
	}
	f.Fuzz(func(t *testing.T, status uint16, cr, etag string, clen int64, body []byte) {
		s := &scripted{data: data, etag: `"v1"`, script: func(n int, r Request) *Response {
			if n == 0 {
				return nil
			}
			return &Response{StatusCode: int(status), Status: fmt.Sprint(status), ContentRange: cr, ETag: etag,
				ContentLength: clen, Body: io.NopCloser(bytes.NewReader(body))}
		}}
		src, err := OpenFetcher(context.Background(), s, fuzzOpts)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer src.Close()
		buf := make([]byte, 1000)
		n, err := src.ReadAt(buf, 2*BlockSize+5)
		if !bytes.Equal(buf[:n], data[2*BlockSize+5:2*BlockSize+5+n]) {
			t.Fatalf("read %d bytes that are not the object's (err %v)", n, err)
		}
		out := make(memWriter, len(data))
		if err := src.CopyRange(context.Background(), out, BlockSize, 2*BlockSize, nil); err == nil && !bytes.Equal(out[BlockSize:3*BlockSize], data[BlockSize:3*BlockSize]) {
			t.Fatal("CopyRange wrote bytes that are not the object's")
		}
	})
}

// FuzzOpenAnswer: whatever the opening answer is, Open fails or pins an
// object whose size its Content-Range gave, and reads stay within it.
func FuzzOpenAnswer(f *testing.F) {
	f.Add(uint16(206), "bytes 0-65535/262144", `"v1"`, int64(65536), make([]byte, 65536))
	f.Add(uint16(206), "bytes 0-65535/9223372036854775807", `"v1"`, int64(65536), make([]byte, 65536))
	f.Add(uint16(304), "", "", int64(0), []byte(nil))
	f.Add(uint16(416), "bytes */0", "", int64(0), []byte(nil))
	f.Fuzz(func(t *testing.T, status uint16, cr, etag string, clen int64, body []byte) {
		s := &scripted{script: func(n int, r Request) *Response {
			return &Response{StatusCode: int(status), Status: fmt.Sprint(status), ContentRange: cr, ETag: etag,
				ContentLength: clen, Body: io.NopCloser(bytes.NewReader(body))}
		}}
		src, err := OpenFetcher(context.Background(), s, fuzzOpts)
		if err != nil {
			return
		}
		defer src.Close()
		_, _, total, ok := parseContentRange(cr)
		if !ok || src.Size() != total {
			t.Fatalf("opened with size %d from Content-Range %q", src.Size(), cr)
		}
		if _, err := src.ReadAt(make([]byte, 10), src.Size()); !errors.Is(err, io.EOF) {
			t.Fatalf("read at the end: %v", err)
		}
	})
}

// FuzzContentRange: the parser accepts only ranges inside their total.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes */100", "bytes 5-4/10", "bytes 0-9223372036854775807/9223372036854775807", "bytes -1-5/10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		first, last, total, ok := parseContentRange(v)
		if ok && first != -1 && (first < 0 || last < first || last >= total) {
			t.Fatalf("%q parsed as %d-%d/%d", v, first, last, total)
		}
	})
}
