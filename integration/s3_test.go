//go:build linux

package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/s3src/s3test"
)

// TestS3 stores images in a real SeaweedFS (uploaded with the AWS SDK)
// and reads them through s3:// with the binary: ls and info agree with
// the local image, extract gives the same tree as extracting the local
// image, and a mount (served by a detached isofsd, credentials from the
// environment) shows that tree too. Wrong credentials, a missing bucket
// and a missing object fail with exit 2 and S3's own error code; an
// object replaced while it is mounted fails reads of parts not read
// before (EIO, logged as changed) and never serves the new object's
// bytes.
func TestS3(t *testing.T) {
	srv := s3test.Shared(t)
	srv.MakeBucket(t, "isos")
	src := filepath.Join(t.TempDir(), "src")
	isotest.FeatureTree(t, src, 50)
	local := filepath.Join(t.TempDir(), "feature.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "S3FEATURE", "-o", local, src)
	srv.PutFile(t, "isos", "releases/feature.iso", local)
	url := "s3://isos/releases/feature.iso"
	srv.Setenv(t, s3test.Reader)
	ep := []string{"--endpoint", srv.Endpoint}

	// ls and info: the same as for the local file.
	for _, args := range [][]string{{"ls", "-lR"}, {"info"}} {
		want, code := run(t, append(args, local)...)
		if code != 0 {
			t.Fatalf("%v local: exit %d: %s", args, code, want)
		}
		got, code := run(t, append(append(args, url), ep...)...)
		if code != 0 {
			t.Fatalf("%v %s: exit %d: %s", args, url, code, got)
		}
		if args[0] == "info" {
			// The size line names the source; the rest must agree.
			want, got = dropLines(want, local), dropLines(got, url)
		}
		if got != want {
			t.Errorf("%v through s3:// differs from the local image:\n--- local\n%s\n--- s3\n%s", args, want, got)
		}
	}

	// extract: the same tree as from the local image.
	wantDir, gotDir := filepath.Join(t.TempDir(), "local"), filepath.Join(t.TempDir(), "s3")
	if out, code := run(t, "extract", local, "-C", wantDir); code != 0 {
		t.Fatalf("extract local: %d %s", code, out)
	}
	if out, code := run(t, append([]string{"extract", url, "-C", gotDir}, ep...)...); code != 0 {
		t.Fatalf("extract %s: %d %s", url, code, out)
	}
	want := isotest.SnapshotDir(t, wantDir)
	isotest.Compare(t, want, isotest.SnapshotDir(t, gotDir), isotest.CompareOptions{})

	// fetch: the object, byte for byte, checked against a SHA256SUMS
	// stored beside it in the bucket; verify reads it through s3:// too.
	raw, err := os.ReadFile(local)
	must(t, err)
	sum := sha256.Sum256(raw)
	srv.Put(t, "isos", "releases/SHA256SUMS", []byte(hex.EncodeToString(sum[:])+" *feature.iso\n"))
	fetched := filepath.Join(t.TempDir(), "feature.iso")
	if out, code := run(t, append([]string{"fetch", url, "-o", fetched}, ep...)...); code != 0 || !strings.Contains(out, "sha256 (SHA256SUMS)") {
		t.Errorf("fetch %s: exit %d:\n%s", url, code, out)
	}
	if got, err := os.ReadFile(fetched); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("fetched file differs from the stored object: %v", err)
	}
	// (It has no checksum of its own: "cannot tell", exit 2, with every
	// file of the tree read whole.)
	if out, code := run(t, append([]string{"verify", url}, ep...)...); code != 2 || !strings.Contains(out, " whole, 0 damaged") {
		t.Errorf("verify %s: exit %d:\n%s", url, code, out)
	}

	// mount: the same tree again, read through the mount.
	m := mountImage(t, url, ep...)
	isotest.Compare(t, want, isotest.SnapshotDir(t, m.mp), isotest.CompareOptions{IgnoreDirMTime: true})

	// Errors: exit 2 and S3's code, before anything is mounted.
	mp := newMountpoint(t)
	for _, tc := range []struct {
		name    string
		key     s3test.Key
		url     string
		mention string
	}{
		{"wrong secret", s3test.Key{ID: s3test.Reader.ID, Secret: "not-the-secret"}, url, "SignatureDoesNotMatch"},
		{"unknown key", s3test.Key{ID: "NOSUCHACCESSKEY00000", Secret: "x"}, url, "InvalidAccessKeyId"},
		{"missing bucket", s3test.Reader, "s3://nosuchbucket/feature.iso", "NoSuchBucket"},
		{"missing object", s3test.Reader, "s3://isos/releases/none.iso", "NoSuchKey"},
	} {
		srv.Setenv(t, tc.key)
		for _, args := range [][]string{{"ls", tc.url}, {"mount", tc.url, mp}} {
			out, code := run(t, append(args, ep...)...)
			if code != 2 || !strings.Contains(out, tc.mention) || strings.Contains(out, "panic") {
				t.Errorf("%s, %s: exit %d, want 2 naming %s:\n%s", tc.name, args[0], code, tc.mention, out)
			}
			if strings.Contains(out, tc.key.Secret) && tc.key.Secret != "x" {
				t.Errorf("%s: the secret key appears in the output", tc.name)
			}
		}
	}
	if isMounted(t, mp) {
		t.Error("a failed s3 mount left a mount behind")
	}
}

// TestS3Replaced mounts an object, reads part of it, then replaces the
// object with another image of the same size: files read before stay
// right, files not read before fail with EIO (logged as changed), and no
// read returns the new object's bytes.
func TestS3Replaced(t *testing.T) {
	srv := s3test.Shared(t)
	srv.MakeBucket(t, "replaced")
	build := func(seed byte) (string, map[string][]byte) {
		src := filepath.Join(t.TempDir(), "src")
		files := map[string][]byte{}
		for i, n := range []string{"a.bin", "b.bin", "c.bin", "d.bin"} {
			b := bytes.Repeat([]byte{seed + byte(i)}, 3<<20)
			writeBytes(t, filepath.Join(src, n), b)
			files[n] = b
		}
		img := filepath.Join(t.TempDir(), "x.iso")
		xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-V", "REPLACE", "-o", img, src)
		return img, files
	}
	imgA, a := build('a')
	imgB, _ := build('A')
	srv.PutFile(t, "replaced", "x.iso", imgA)
	srv.Setenv(t, s3test.Reader)
	m := mountImage(t, "s3://replaced/x.iso", "--endpoint", srv.Endpoint)
	if got, err := os.ReadFile(filepath.Join(m.mp, "a.bin")); err != nil || !bytes.Equal(got, a["a.bin"]) {
		t.Fatalf("a.bin before the replacement: %v", err)
	}
	srv.PutFile(t, "replaced", "x.iso", imgB)
	got, err := os.ReadFile(filepath.Join(m.mp, "c.bin"))
	if err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("c.bin after the replacement: %d bytes, %v; want EIO", len(got), err)
	}
	if len(got) > 0 && !bytes.Equal(got, a["c.bin"][:len(got)]) {
		t.Fatal("the replacement's bytes were served as the mounted image's")
	}
	if got, err := os.ReadFile(filepath.Join(m.mp, "a.bin")); err != nil || !bytes.Equal(got, a["a.bin"]) {
		t.Errorf("a.bin after the replacement: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readLog(m.log), "changed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(readLog(m.log), "changed") {
		t.Errorf("the mount's log does not say the object changed:\n%s", readLog(m.log))
	}
}

// dropLines removes the lines mentioning s.
func dropLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func writeBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, b, 0o644))
}
