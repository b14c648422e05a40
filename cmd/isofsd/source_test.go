package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/sirupsen/logrus"
)

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want http.Header
		bad  bool
	}{
		{in: []string{"Authorization: Bearer a:b"}, want: http.Header{"Authorization": {"Bearer a:b"}}},
		{in: []string{"x-amz-security-token:tok", "X-Amz-Security-Token: two"}, want: http.Header{"X-Amz-Security-Token": {"tok", "two"}}},
		{in: []string{"NoColon"}, bad: true},
		{in: []string{": value"}, bad: true},
		{in: []string{"Bad Name: v"}, bad: true},
		{in: []string{"X: a\r\nInjected: b"}, bad: true},
	} {
		got, err := parseHeaders(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.bad && len(got) != len(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
		for k, v := range tc.want {
			if len(got[k]) != len(v) || (len(v) > 0 && got[k][0] != v[0]) {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

// TestOpenImage opens one corpus image as a local path and as a URL
// (with a required auth header) and compares a file read both ways.
func TestOpenImage(t *testing.T) {
	image := isotest.CorpusFile(t, "libcdio/copying-rr.iso")
	a := &app{log: logrus.New()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, "denied", http.StatusForbidden)
			return
		}
		http.ServeFile(w, r, image)
	}))
	defer srv.Close()

	read := func(img fs.FS) string {
		ents, err := fs.ReadDir(img, ".")
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, e := range ents {
			out += e.Name() + "\n"
			if e.Type().IsRegular() {
				f, _ := img.Open(e.Name())
				b, _ := io.ReadAll(f)
				f.Close()
				out += string(b)
			}
		}
		return out
	}
	local, closeLocal, err := openImage(context.Background(), a, image, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := read(local)
	if err := closeLocal(); err != nil {
		t.Fatal(err)
	}

	if _, _, err := openImage(context.Background(), a, srv.URL+"/x.iso", "", nil, ""); err == nil {
		t.Fatal("opened without the auth header")
	} else {
		var se *httpsrc.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusForbidden {
			t.Fatalf("without the header: %v, want HTTP 403", err)
		}
	}
	remote, closeRemote, err := openImage(context.Background(), a, srv.URL+"/x.iso", "iso9660", []string{"Authorization: Bearer t"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeRemote()
	if remote.Tree() != "iso9660" {
		t.Errorf("tree %s, want iso9660 as asked", remote.Tree())
	}
	remote2, close2, err := openImage(context.Background(), a, srv.URL+"/x.iso", "", []string{"Authorization: Bearer t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	if got := read(remote2); got != want || len(want) < 100 {
		t.Errorf("remote listing/content differs from local:\n%q\n%q", got, want)
	}
}
