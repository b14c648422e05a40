package repair

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/repair/zsync"
)

// tree writes files of pseudo-random bytes (seeded per file) under dir,
// with an md5sum.txt naming them, as distribution images carry.
func tree(t testing.TB, dir string, files map[string]int, seed uint64) {
	t.Helper()
	var sums strings.Builder
	for name, size := range files {
		b := make([]byte, size)
		r := rand.New(rand.NewPCG(seed, uint64(len(name))*7919+uint64(size)))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%x  ./%s\n", md5.Sum(b), name)
	}
	os.WriteFile(filepath.Join(dir, "md5sum.txt"), []byte(sums.String()), 0o644)
}

// image builds an ISO of tree files with an implanted isomd5sum.
func image(t testing.TB, out string, files map[string]int, seed uint64) []byte {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5")
	src := filepath.Join(t.TempDir(), "src")
	tree(t, src, files, seed)
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "REPAIR", "-o", out, src)
	isotest.Run(t, "implantisomd5", "--force", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var files = map[string]int{
	"casper/filesystem.squashfs": 9 << 20, "casper/vmlinuz": 3 << 20, "casper/initrd": 2<<20 + 333,
	"docs/README": 5000, "docs/LICENSE": 30000, "boot/grub.cfg": 700,
}

// publish puts data at www/image.iso with a zsyncmake control file
// beside it (unless noZsync) and returns its URL.
func publish(t testing.TB, srv *nginxtest.Server, data []byte, withZsync bool) string {
	t.Helper()
	p := filepath.Join(srv.Root, "image.iso")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(p + ".zsync")
	if withZsync {
		isotest.RequireTool(t, "zsyncmake")
		isotest.Run(t, "zsyncmake", "-b", "2048", "-u", "image.iso", "-o", p+".zsync", p)
	}
	return srv.URL("image.iso")
}

func control(t testing.TB, srv *nginxtest.Server) *zsync.Control {
	b, err := os.ReadFile(filepath.Join(srv.Root, "image.iso.zsync"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := zsync.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var pin = httpsrc.Options{OpenPrefetch: httpsrc.PinOnly, OpenTail: -1, Retries: 1}

func source(t testing.TB, url string) *httpsrc.Source {
	src, err := httpsrc.Open(context.Background(), url, pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// imageBytes sums what nginx sent of image.iso itself after mark.
func imageBytes(srv *nginxtest.Server, mark int) (requests int, body int64) {
	for _, l := range srv.Log()[mark:] {
		if l.Path == "/image.iso" {
			requests++
			body += l.BodyBytes
		}
	}
	return
}

// zsyncOracle runs zsync's own client with seed against the published
// control file and returns its output file and the image bytes nginx
// sent for it.
func zsyncOracle(t *testing.T, srv *nginxtest.Server, seed []byte) ([]byte, int64) {
	t.Helper()
	isotest.RequireTool(t, "zsync")
	dir := t.TempDir()
	seedPath := filepath.Join(dir, "seed.iso")
	os.WriteFile(seedPath, seed, 0o644)
	out := filepath.Join(dir, "out.iso")
	mark := len(srv.Log())
	cmd := exec.Command("zsync", "-q", "-i", seedPath, "-o", out, srv.URL("image.iso.zsync"))
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zsync: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	_, body := imageBytes(srv, mark)
	return got, body
}

// TestZsyncFlipped repairs a copy with three flipped regions: the result
// is the image, the bytes fetched (counted in nginx's access log) are at
// most the blocks the flips touch plus zsync's own overhead (the last
// block, and with sequential matches the block before each region), and
// no more than zsync's own client fetches for the same copy.
func TestZsyncFlipped(t *testing.T) {
	srv := nginxtest.Start(t, t.TempDir())
	good := image(t, filepath.Join(t.TempDir(), "good.iso"), files, 1)
	url := publish(t, srv, good, true)
	ctl := control(t, srv)
	bad := bytes.Clone(good)
	touched := map[int64]bool{}
	for _, off := range []int{1 << 20, 7<<20 + 123, 13<<20 + 4000} {
		for i := range 5000 {
			bad[off+i] ^= 0xa5
			touched[int64(off+i)/int64(ctl.BlockSize)] = true
		}
	}
	path := filepath.Join(t.TempDir(), "copy.iso")
	os.WriteFile(path, bad, 0o644)

	mark := len(srv.Log())
	res, err := Zsync(context.Background(), path, ctl, source(t, url), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, good) {
		t.Fatal("the repaired copy differs from the image")
	}
	reqs, body := imageBytes(srv, mark)
	limit := int64(len(touched)+1+3) * int64(ctl.BlockSize)
	oracle, zbody := zsyncOracle(t, srv, bad)
	t.Logf("3 flipped regions touching %d blocks of %d: fetched %d bytes in %d requests (result says %d); zsync's client fetched %d; limit %d",
		len(touched), ctl.Blocks(), body, reqs, res.Fetched, zbody, limit)
	if !bytes.Equal(oracle, good) {
		t.Error("zsync's own client did not rebuild the image from the same copy")
	}
	if body > limit+1 || res.Fetched > limit {
		t.Errorf("fetched %d bytes for %d damaged blocks (limit %d)", body, len(touched), limit)
	}
	if body > zbody+1 {
		t.Errorf("fetched %d bytes, zsync's client %d", body, zbody)
	}
	if m, _ := filepath.Glob(path + Suffix + "*"); len(m) > 0 {
		t.Errorf("assembly left behind: %v", m)
	}

	// Repairing the repaired copy writes nothing.
	mark = len(srv.Log())
	res, err = Zsync(context.Background(), path, ctl, source(t, url), Options{})
	if _, body := imageBytes(srv, mark); err != nil || !res.Unchanged || body > 1 {
		t.Errorf("second repair: %+v %v, %d bytes fetched", res, err, body)
	}
}

// TestZsyncUpgrade turns an older image into the new release with the new
// release's zsyncmake control file: the result is the new image, and the
// transfer is about the changed files, as with zsync's own client.
func TestZsyncUpgrade(t *testing.T) {
	srv := nginxtest.Start(t, t.TempDir())
	old := image(t, filepath.Join(t.TempDir(), "old.iso"), files, 1)
	newFiles := map[string]int{}
	for k, v := range files {
		newFiles[k] = v
	}
	newFiles["casper/vmlinuz"] = 3<<20 + 4096 // changed (other size: other bytes)
	newFiles["docs/NEWS"] = 50000             // added
	delete(newFiles, "docs/LICENSE")          // removed
	newImg := image(t, filepath.Join(t.TempDir(), "new.iso"), newFiles, 1)
	// Unchanged files keep their bytes (same seed, name and size), but
	// move: xorriso lays the new tree out afresh.
	url := publish(t, srv, newImg, true)
	ctl := control(t, srv)
	path := filepath.Join(t.TempDir(), "mine.iso")
	os.WriteFile(path, old, 0o644)

	mark := len(srv.Log())
	res, err := Zsync(context.Background(), path, ctl, source(t, url), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, newImg) {
		t.Fatal("the upgraded image differs from the new release")
	}
	_, body := imageBytes(srv, mark)
	oracle, zbody := zsyncOracle(t, srv, old)
	changed := int64(newFiles["casper/vmlinuz"] + newFiles["docs/NEWS"])
	t.Logf("upgrade of a %d-byte image: fetched %d bytes (%d reused), zsync's client %d; changed files %d bytes",
		len(newImg), body, res.Reused, zbody, changed)
	if !bytes.Equal(oracle, newImg) {
		t.Error("zsync's own client did not build the new image")
	}
	// The changed data plus metadata (descriptors, directories, md5sum.txt
	// and the isomd5sum sector) and block edges.
	if body > changed+512<<10 {
		t.Errorf("fetched %d bytes; the changed files are %d", body, changed)
	}
	if body > zbody+zbody/10+int64(ctl.BlockSize)*4 {
		t.Errorf("fetched %d bytes, zsync's client %d", body, zbody)
	}
}

// TestChecksumsRepair repairs a copy without a control file: the image's
// md5sum.txt (read from the remote image) names the damaged files, its
// isomd5sum the damage outside them; only those are fetched.
func TestChecksumsRepair(t *testing.T) {
	srv := nginxtest.Start(t, t.TempDir())
	good := image(t, filepath.Join(t.TempDir(), "good.iso"), files, 2)
	url := publish(t, srv, good, false)
	bad := bytes.Clone(good)
	// Inside two files (found by md5sum.txt) and in a directory sector
	// (found only by the isomd5sum fragments).
	for _, off := range []int{2 << 20, 10<<20 + 17} {
		for i := range 3000 {
			bad[off+i] ^= 0x3c
		}
	}
	bad[18*2048+100] ^= 1 // the sector after the primary descriptor's set
	path := filepath.Join(t.TempDir(), "copy.iso")
	os.WriteFile(path, bad, 0o644)
	mark := len(srv.Log())
	var notes []string
	res, err := Checksums(context.Background(), path, source(t, url), Options{Note: func(s string) { notes = append(notes, s) }})
	if err != nil {
		t.Fatalf("%v (%q)", err, notes)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, good) {
		t.Fatal("the repaired copy differs from the image")
	}
	_, body := imageBytes(srv, mark)
	t.Logf("fetched %d of %d bytes (result: %d fetched, %d reused); %q", body, len(good), res.Fetched, res.Reused, notes)
	if res.Fetched >= int64(len(good))/2 {
		t.Errorf("fetched %d of %d bytes", res.Fetched, len(good))
	}
}

// TestRepairNeverWritesUnverified: a server whose image does not match
// the control file, a Verify hook that refuses, and a repair cancelled
// mid-way all leave the original copy as it was, with no assembly left.
func TestRepairNeverWritesUnverified(t *testing.T) {
	srv := nginxtest.Start(t, t.TempDir())
	good := image(t, filepath.Join(t.TempDir(), "good.iso"), files, 3)
	url := publish(t, srv, good, true)
	ctl := control(t, srv)
	bad := bytes.Clone(good)
	for i := range 100000 {
		bad[5<<20+i] ^= 0xff
	}
	path := filepath.Join(t.TempDir(), "copy.iso")
	reset := func() { os.WriteFile(path, bad, 0o644) }
	untouched := func(what string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, bad) {
			t.Errorf("%s: the original copy was changed", what)
		}
		if m, _ := filepath.Glob(path + Suffix + "*"); len(m) > 0 {
			t.Errorf("%s: assembly left behind", what)
		}
	}

	// The server's image swapped for another of the same size.
	reset()
	other := bytes.Clone(good)
	for i := range 200000 {
		other[5<<20+i] ^= 0x0f
	}
	os.WriteFile(filepath.Join(srv.Root, "image.iso"), other, 0o644)
	_, err := Zsync(context.Background(), path, ctl, source(t, url), Options{})
	untouched("server data not matching the control file", err, ErrMismatch)
	os.WriteFile(filepath.Join(srv.Root, "image.iso"), good, 0o644)

	reset()
	refused := errors.New("refused by the hook")
	_, err = Zsync(context.Background(), path, ctl, source(t, url), Options{Verify: func(string) error { return refused }})
	untouched("verify hook", err, refused)

	reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Zsync(ctx, path, ctl, source(t, url), Options{})
	untouched("cancelled", err, context.Canceled)

	// A control file of another size than the object.
	reset()
	os.WriteFile(filepath.Join(srv.Root, "image.iso"), append(bytes.Clone(good), 0), 0o644)
	_, err = Zsync(context.Background(), path, ctl, source(t, url), Options{})
	untouched("size mismatch", err, ErrMismatch)
}
