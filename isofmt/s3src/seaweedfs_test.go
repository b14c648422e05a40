//go:build unix

package s3src_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/s3src"
	"github.com/isofsd/isofsd/isofmt/s3src/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// testImage builds a Rock Ridge image of a few files (some spanning many
// 64 KiB blocks) filled with bytes that depend on seed.
func testImage(t *testing.T, seed byte) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{10, 70000, 1 << 20, 3<<20 + 5} {
		b := make([]byte, size)
		for j := range b {
			b[j] = seed + byte(i) + byte(j>>12)
		}
		if err := os.WriteFile(filepath.Join(src, "dir", "f"+string(rune('0'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "t.iso")
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "S3TEST", "-o", img, src)
	return img
}

// TestSeaweedFS reads images stored in a real SeaweedFS through s3://:
// the tree and every file equal the local image's; a reader identity may
// read; wrong keys, unsigned requests, a missing bucket or object fail
// with S3's own error code named, and errors callers can branch on.
func TestSeaweedFS(t *testing.T) {
	srv := s3test.Shared(t)
	srv.MakeBucket(t, "isos")
	local := testImage(t, 'a')
	srv.PutFile(t, "isos", "linux/t.iso", local)
	corpus := isotest.CorpusFile(t, "libcdio/joliet.iso")
	srv.PutFile(t, "isos", "corpus/joliet.iso", corpus)
	ctx := context.Background()

	for _, tc := range []struct{ path, url string }{
		{local, "s3://isos/linux/t.iso"},
		{corpus, "s3://isos/corpus/joliet.iso"},
	} {
		srv.Setenv(t, s3test.Reader)
		src, err := s3src.Open(ctx, tc.url, s3src.Options{}, httpsrc.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		img, err := isofmt.Open(src, src.Size(), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		want, err := isofmt.OpenFile(tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		isotest.Compare(t, isotest.SnapshotFS(t, want, nil), isotest.SnapshotFS(t, img, nil), isotest.CompareOptions{})
		if src.URL() != tc.url || !strings.HasPrefix(src.ETag(), `"`) {
			t.Errorf("pinned as %s %s", src.URL(), src.ETag())
		}
		want.Close()
		src.Close()
	}

	for _, tc := range []struct {
		name    string
		key     s3test.Key
		opts    s3src.Options
		url     string
		sentry  error
		mention string
	}{
		{"wrong secret", s3test.Key{ID: s3test.Reader.ID, Secret: "wrong"}, s3src.Options{}, "s3://isos/linux/t.iso", fs.ErrPermission, "SignatureDoesNotMatch"},
		{"unknown key", s3test.Key{ID: "NOSUCHKEY00000000000", Secret: "x"}, s3src.Options{}, "s3://isos/linux/t.iso", fs.ErrPermission, "InvalidAccessKeyId"},
		{"unsigned", s3test.Reader, s3src.Options{Anonymous: true}, "s3://isos/linux/t.iso", fs.ErrPermission, "AccessDenied"},
		{"missing bucket", s3test.Admin, s3src.Options{}, "s3://nosuchbucket/t.iso", fs.ErrNotExist, "NoSuchBucket"},
		{"missing object", s3test.Admin, s3src.Options{}, "s3://isos/linux/none.iso", fs.ErrNotExist, "NoSuchKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Setenv(t, tc.key)
			_, err := s3src.Open(ctx, tc.url, tc.opts, quick)
			if err == nil {
				t.Fatal("opened")
			}
			if !errors.Is(err, tc.sentry) || !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), tc.url) {
				t.Errorf("error %q: want %v naming %s and the URL", err, tc.sentry, tc.mention)
			}
		})
	}
}

// TestSeaweedFSReplaced: an object replaced while it is open (same size,
// other bytes) fails the reads of parts not read before with ErrChanged;
// it never returns the new object's bytes as the old one's.
func TestSeaweedFSReplaced(t *testing.T) {
	srv := s3test.Shared(t)
	srv.MakeBucket(t, "replaced")
	a := make([]byte, 8<<20)
	b := make([]byte, len(a))
	for i := range a {
		a[i], b[i] = byte(i>>10), ^byte(i>>10)
	}
	srv.Put(t, "replaced", "x.iso", a)
	srv.Setenv(t, s3test.Reader)
	src, err := s3src.Open(context.Background(), "s3://replaced/x.iso", s3src.Options{}, quick)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]byte, 1<<20)
	if _, err := src.ReadAt(buf, 1<<20); err != nil || !bytes.Equal(buf, a[1<<20:2<<20]) {
		t.Fatalf("read before the replacement: %v", err)
	}
	srv.Put(t, "replaced", "x.iso", b)
	n, err := src.ReadAt(buf, 4<<20)
	if !errors.Is(err, httpsrc.ErrChanged) {
		t.Fatalf("read after the replacement: %d bytes, %v; want ErrChanged", n, err)
	}
	if n > 0 && bytes.Equal(buf[:n], b[4<<20:4<<20+n]) {
		t.Fatal("the replacement's bytes were returned")
	}
	// What was read before is still the pinned object's.
	if _, err := src.ReadAt(buf, 1<<20); err != nil || !bytes.Equal(buf, a[1<<20:2<<20]) {
		t.Errorf("cached part after the replacement: %v", err)
	}
	if _, err := io.ReadFull(io.NewSectionReader(src, 0, 10), make([]byte, 10)); err != nil {
		t.Errorf("start (cached at open): %v", err)
	}
}
