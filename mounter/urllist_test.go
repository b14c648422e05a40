package mounter

import (
	"slices"
	"strings"
	"testing"
)

// TestParseURLList: comments, blanks, duplicates and lines that are not
// image URLs; what is kept, what is reported.
func TestParseURLList(t *testing.T) {
	list := "# the fleet\n\nhttps://mirror.example/isos/a.iso\n  s3://bucket/dir/b.iso  \nhttp://h/c.iso?sig=1\n" +
		"https://mirror.example/isos/a.iso\nftp://h/d.iso\n/local/e.iso\nhttps://h/\nfile:///etc/passwd\nhttps://h/x y.iso\n" +
		strings.Repeat("x", maxURLLine+10) + "\n"
	urls, bad := ParseURLList([]byte(list))
	want := []string{"https://mirror.example/isos/a.iso", "s3://bucket/dir/b.iso", "http://h/c.iso?sig=1"}
	if !slices.Equal(urls, want) {
		t.Errorf("urls %q, want %q", urls, want)
	}
	if len(bad) != 6 {
		t.Errorf("%d bad lines reported, want 6: %q", len(bad), bad)
	}
	for name, want := range map[string]string{
		"https://h/isos/ubuntu-24.04.iso": "ubuntu-24.04", "s3://b/k/Win%2011.iso?x=1": "Win 11",
		"https://h/..": "remote", "https://h/.hidden.iso": "remote", "https://h/a/b.tar.gz": "b.tar",
	} {
		if got := URLName(name); got != want {
			t.Errorf("URLName(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzParseURLList: a list fetched from a server is untrusted; whatever
// it holds gives image URLs and mountpoint names that are one path
// element.
func FuzzParseURLList(f *testing.F) {
	f.Add([]byte("https://h/a.iso\n# x\ns3://b/k.iso\n"))
	f.Add([]byte("\x00\xff\nhttp://[::1]/a.iso\nhttp://h/%2e%2e\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		urls, _ := ParseURLList(b)
		if len(urls) > maxURLs {
			t.Fatalf("%d URLs", len(urls))
		}
		for _, u := range urls {
			if !isImageURL(u) {
				t.Fatalf("%q kept but not an image URL", u)
			}
			n := URLName(u)
			if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
				t.Fatalf("URLName(%q) = %q", u, n)
			}
		}
	})
}
