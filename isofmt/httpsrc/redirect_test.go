package httpsrc

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// redirectHeaders are what TestRedirectDropsHeaders sends: a token in a
// custom header (which net/http forwards anywhere) and Authorization.
var redirectHeaders = http.Header{"Private-Token": {"s3cr3t"}, "Authorization": {"Bearer abc"}}

// TestRedirectDropsHeaders: real nginx servers; the first redirects
// (302) to another host (127.0.0.2), to another port, and within
// itself. The user's --header values reach only the first server: the
// others serve the image but never see them. A redirect within the
// origin keeps them (a server that needs them still gets them).
func TestRedirectDropsHeaders(t *testing.T) {
	image := smallImage(t)
	want, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	root := func() string {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "image.iso"), want, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	logged := []string{"Private-Token", "Authorization"}
	otherHost := nginxtest.StartConfig(t, root(), nginxtest.Config{Addr: "127.0.0.2", LogHeaders: logged})
	otherPort := nginxtest.StartConfig(t, root(), nginxtest.Config{LogHeaders: logged})
	origin := nginxtest.StartConfig(t, root(), nginxtest.Config{LogHeaders: logged, Locations: []string{
		fmt.Sprintf("location /host/ { return 302 %s; }", otherHost.URL("image.iso")),
		fmt.Sprintf("location /port/ { return 302 %s; }", otherPort.URL("image.iso")),
		"location /same/ { return 302 /image.iso; }",
	}})

	read := func(u string) {
		t.Helper()
		src, err := Open(context.Background(), u, Options{Header: redirectHeaders.Clone(), OpenTail: -1})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		defer src.Close()
		got := make([]byte, len(want))
		if _, err := src.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read through the redirect: %v (equal %v)", u, err, bytes.Equal(got, want))
		}
	}
	read(origin.URL("host/image.iso"))
	read(origin.URL("port/image.iso"))
	read(origin.URL("same/image.iso"))

	for name, s := range map[string]*nginxtest.Server{"another host": otherHost, "another port": otherPort} {
		lines := s.HeaderLog()
		if len(lines) == 0 {
			t.Errorf("%s: no request arrived", name)
		}
		for _, l := range lines {
			for h, v := range l.Values {
				if v != "-" {
					t.Errorf("%s got %s: %s (request for %s)", name, h, v, l.Path)
				}
			}
		}
	}
	// The origin saw the headers on every request, including the one
	// redirected within it.
	sameHits := 0
	for _, l := range origin.HeaderLog() {
		if l.Values["Private-Token"] != "s3cr3t" || l.Values["Authorization"] != "Bearer abc" {
			t.Errorf("origin: request for %s without the headers: %v", l.Path, l.Values)
		}
		if l.Path == "/image.iso" {
			sameHits++
		}
	}
	if sameHits == 0 {
		t.Error("origin: the redirect within it never arrived")
	}
}

// TestRedirectOrigins: the policy's decisions, including what a real
// server setup cannot easily show here (https → http on the same host,
// a chain that leaves the origin and comes back, the hop limit).
func TestRedirectOrigins(t *testing.T) {
	f, err := newHTTPFetcher("https://repo.example/img.iso", Options{Header: redirectHeaders.Clone()})
	if err != nil {
		t.Fatal(err)
	}
	check := f.client.CheckRedirect
	if check == nil {
		t.Fatal("the client has no redirect policy: net/http's default forwards the headers")
	}
	req := func(u string) *http.Request {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		h := redirectHeaders.Clone()
		h.Set("Range", "bytes=0-9")
		return &http.Request{URL: pu, Header: h, Host: pu.Host}
	}
	first := req("https://repo.example/img.iso")
	for _, c := range []struct {
		chain []string // hops after the first request; the last is the one checked
		keep  bool
	}{
		{[]string{"https://repo.example/other/img.iso"}, true},
		{[]string{"https://REPO.example:443/img.iso"}, true},
		{[]string{"http://repo.example/img.iso"}, false},
		{[]string{"https://repo.example:8443/img.iso"}, false},
		{[]string{"https://cdn.example/img.iso"}, false},
		{[]string{"https://cdn.example/img.iso", "https://repo.example/img.iso"}, false},
	} {
		via := []*http.Request{first}
		for _, u := range c.chain[:len(c.chain)-1] {
			via = append(via, req(u))
		}
		r := req(c.chain[len(c.chain)-1])
		if err := check(r, via); err != nil {
			t.Fatalf("%v: %v", c.chain, err)
		}
		kept := r.Header.Get("Private-Token") != "" || r.Header.Get("Authorization") != ""
		if kept != c.keep {
			t.Errorf("%v: headers kept %v, want %v", c.chain, kept, c.keep)
		}
		if r.Header.Get("Range") == "" {
			t.Errorf("%v: the Range header was dropped", c.chain)
		}
	}
	via := []*http.Request{first}
	for range 10 - 1 {
		via = append(via, req("https://repo.example/img.iso"))
	}
	if err := check(req("https://repo.example/img.iso"), via); err == nil {
		t.Error("an 11th redirect was followed")
	}
}
