package fetch

import (
	"io/fs"
	"path"
	"strings"
	"testing"
)

// FuzzFindPublished: whatever a server publishes as checksum lists and
// signatures, FindPublished finds an entry that names the image, or
// none; it never panics.
func FuzzFindPublished(f *testing.F) {
	f.Add("distro.iso", []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef *distro.iso\n"), []byte("-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Add("x.iso", []byte("SHA256 (x.iso) = 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"), []byte(nil))
	f.Add("a.iso", []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n0123456789abcdef0123456789abcdef  a.iso\n"), []byte{0xc2})
	f.Fuzz(func(t *testing.T, image string, list, sig []byte) {
		files := map[string][]byte{"SHA256SUMS": list, "SHA256SUMS.gpg": sig, "MD5SUMS": list}
		get := func(name string) ([]byte, error) {
			if b, ok := files[name]; ok {
				return b, nil
			}
			return nil, fs.ErrNotExist
		}
		p, err := FindPublished(image, get, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Entry != nil && strings.TrimPrefix(p.Entry.Name, "./") != image && path.Base(p.Entry.Name) != image {
			t.Fatalf("entry %q for image %q", p.Entry.Name, image)
		}
	})
}

// TestSiblingURL: names beside an image, and what is refused.
func TestSiblingURL(t *testing.T) {
	for _, tc := range []struct{ url, name, want string }{
		{"https://h/a/b/x.iso", "SHA256SUMS", "https://h/a/b/SHA256SUMS"},
		{"https://h/a/b/x.iso?X-Amz-Signature=s", "SHA256SUMS", "https://h/a/b/SHA256SUMS"},
		{"http://h/x.iso", "x.iso.zsync", "http://h/x.iso.zsync"},
		{"s3://b/dir/x.iso", "SHA256SUMS.gpg", "s3://b/dir/SHA256SUMS.gpg"},
		{"s3://b/x.iso", "MD5SUMS", "s3://b/MD5SUMS"},
		{"https://h/a/x.iso", "../etc", ""},
		{"https://h/a/x.iso", "a/b", ""},
		{"https://h/a/x.iso", "..", ""},
	} {
		got, err := SiblingURL(tc.url, tc.name)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("SiblingURL(%q, %q) = %q, %v", tc.url, tc.name, got, err)
		}
	}
	if FileName("https://h/a/My%20Image.iso?x=1") != "My Image.iso" || FileName("s3://b/d/x.iso") != "x.iso" {
		t.Error("FileName")
	}
}
