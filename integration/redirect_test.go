//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// TestRemoteRedirectHeaders is the review's reproduction with the real
// binary: nginx on 127.0.0.1 redirects (302) to another nginx on
// 127.0.0.2. `isofsd fetch` and `isofsd ls` with --header follow the
// redirect and get the image, and the second server never sees the
// headers (before the fix it logged PRIVATE-TOKEN: net/http forwards
// custom headers to any host).
func TestRemoteRedirectHeaders(t *testing.T) {
	img := smallImage(t)
	want, err := os.ReadFile(img)
	must(t, err)
	www := t.TempDir()
	must(t, os.WriteFile(filepath.Join(www, "small.iso"), want, 0o644))
	logged := []string{"Private-Token", "Authorization"}
	other := nginxtest.StartConfig(t, www, nginxtest.Config{Addr: "127.0.0.2", LogHeaders: logged})
	origin := nginxtest.StartConfig(t, t.TempDir(), nginxtest.Config{LogHeaders: logged, Locations: []string{
		fmt.Sprintf("location /off/ { return 302 %s; }", other.URL("small.iso")),
	}})
	hdr := []string{"--header", "PRIVATE-TOKEN: s3cr3t", "--header", "Authorization: Bearer abc"}

	out := filepath.Join(t.TempDir(), "o2.iso")
	if o, code := run(t, append([]string{"fetch", origin.URL("off/small.iso"), "-o", out, "--no-verify"}, hdr...)...); code != 0 {
		t.Fatalf("fetch through the redirect: exit %d\n%s", code, o)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fetched image differs: %v", err)
	}
	if o, code := run(t, append([]string{"ls", origin.URL("off/small.iso"), "/"}, hdr...)...); code != 0 {
		t.Fatalf("ls through the redirect: exit %d\n%s", code, o)
	}

	if len(origin.HeaderLog()) == 0 || len(other.HeaderLog()) == 0 {
		t.Fatalf("requests: %d to the origin, %d to the other host", len(origin.HeaderLog()), len(other.HeaderLog()))
	}
	for _, l := range origin.HeaderLog() {
		if l.Values["Private-Token"] != "s3cr3t" {
			t.Errorf("the origin got no Private-Token (request for %s)", l.Path)
		}
	}
	for _, l := range other.HeaderLog() {
		for h, v := range l.Values {
			if v != "-" {
				t.Errorf("127.0.0.2 got %s: %s (request for %s)", h, v, l.Path)
			}
		}
	}
}
