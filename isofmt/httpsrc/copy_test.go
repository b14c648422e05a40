package httpsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// memWriter is an io.WriterAt over a byte slice.
type memWriter []byte

func (m memWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, fmt.Errorf("write %d+%d outside %d", off, len(p), len(m))
	}
	return copy(m[off:], p), nil
}

// TestCopyRange streams ranges into a writer: a body cut short is
// resumed where it broke off and the result is identical; a replaced
// object fails with ErrChanged; a range outside the object is refused;
// Close stops a copy.
func TestCopyRange(t *testing.T) {
	data := randomBytes(3 << 20)
	cut := func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 || n%2 == 0 {
			return false
		}
		// Every other request: the right headers, then half the body.
		var a, z int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &z)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, z, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(z-a+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[a : a+(z-a+1)/2])
		return true
	}
	srv, count := rangeServer(t, data, cut)
	src, err := Open(context.Background(), srv.URL, fast)
	if err != nil {
		t.Fatal(err)
	}
	out := make(memWriter, len(data))
	var progress int64
	if err := src.CopyRange(context.Background(), out, 100, int64(len(data))-200, func(n int64) { progress += n }); err != nil {
		t.Fatalf("CopyRange: %v", err)
	}
	if !bytes.Equal(out[100:len(data)-100], data[100:len(data)-100]) || progress != int64(len(data))-200 {
		t.Fatalf("copied bytes differ (progress %d)", progress)
	}
	if count.Load() < 3 || src.Stats().Retries == 0 {
		t.Errorf("%d requests, %d retries: the cut bodies were not resumed", count.Load(), src.Stats().Retries)
	}
	if err := src.CopyRange(context.Background(), out, int64(len(data))-10, 20, nil); err == nil {
		t.Error("a range past the end was copied")
	}
	src.Close()
	if err := src.CopyRange(context.Background(), out, 0, 10, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}

	// Pinned with one byte, nothing cached: a download costs its bytes.
	var ranges []string
	srv2, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
		ranges = append(ranges, r.Header.Get("Range"))
		return false
	})
	pin := fast
	pin.OpenPrefetch = PinOnly
	src, err = Open(context.Background(), srv2.URL, pin)
	if err != nil {
		t.Fatal(err)
	}
	clear(out)
	if err := src.CopyRange(context.Background(), out, 0, int64(len(data)), nil); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("CopyRange after a PinOnly open: %v", err)
	}
	if st := src.Stats(); len(ranges) != 2 || ranges[0] != "bytes=0-0" || st.Bytes != int64(len(data))+1 {
		t.Errorf("PinOnly: requests %q, %d body bytes for %d", ranges, st.Bytes, len(data))
	}
	src.Close()

	changed, _ := rangeServer(t, data, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			return false
		}
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "image.iso", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), bytes.NewReader(data))
		return true
	})
	src, err = Open(context.Background(), changed.URL, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.CopyRange(context.Background(), out, 0, 1<<20, nil); !errors.Is(err, ErrChanged) {
		t.Errorf("replaced object: %v, want ErrChanged", err)
	}
}
