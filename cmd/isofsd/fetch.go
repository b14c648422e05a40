package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/fetch"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/recover"
	"github.com/isofsd/isofsd/sumsig"
)

// checkFlags are the flags of commands that check a file against what its
// publisher put beside it (fetch, repair).
type checkFlags struct {
	sha256  string
	keyring string
}

// loadKeyring reads --keyring (nil, nil when it is not given).
func loadKeyring(path string) (*sumsig.Keyring, error) {
	if path == "" {
		return nil, nil
	}
	kr, err := sumsig.LoadKeyring(path)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	return kr, nil
}

func addCheckFlags(cmd *cobra.Command, f *checkFlags) {
	cmd.Flags().StringVar(&f.sha256, "sha256", "", "expected SHA-256 of the image (hex), instead of looking for SHA256SUMS, MD5SUMS... beside it")
	cmd.Flags().StringVar(&f.keyring, "keyring", "", "OpenPGP keyring (gpg --export, binary or armoured) the checksum list must be signed with (SHA256SUMS.gpg/.sign/.asc/.sig, or a clearsigned list)")
}

func newFetchCmd(a *app) *cobra.Command {
	var (
		out, mapFile    string
		chunk           int64
		workers         int
		force, noVerify bool
		sf              sourceFlags
		cf              checkFlags
	)
	cmd := &cobra.Command{
		Use:   "fetch URL -o FILE",
		Short: "Download an image (http, https, s3) resumably in parallel, then verify it against its published checksums and signature",
		Long: `fetch downloads URL (http://, https:// or s3://bucket/key) to FILE with
parallel range requests. Progress is kept in a GNU ddrescue mapfile beside
FILE (FILE.map): an interrupted download (error, Ctrl-C, lost connection)
continues where it stopped when the same command runs again, provided the
server still has the same object (same ETag or Last-Modified and size);
the mapfile is removed when the download completes.

Then FILE is checked against the checksum list its publisher puts beside
it (SHA256SUMS, SHA512SUMS, MD5SUMS, FILE.sha256 ...; or --sha256), the
isomd5sum checksum implanted in the image and the image's own md5sum.txt.
With --keyring, the list must carry a good OpenPGP signature by a key of
that keyring (SHA256SUMS.gpg/.sign/.asc/.sig beside it, or a clearsigned
list): fetch says "signed by KEY" or "not signed".

With --keyring only the signed list's entry for the image can verify it:
an entry naming another file, or a file not compared with its entry, is
"NOT VERIFIED" (the image's own md5sum.txt never stands in for it).

FILE and FILE.map are never written through a symbolic link; a download
resumes only onto a FILE and FILE.map of your own that nobody else can
write, and only when the server gives an ETag or Last-Modified (without,
it starts over). A size larger than the free space where FILE goes is
refused before anything is written.

Exit status: 0 downloaded (and verified, or nothing to verify against),
1 the image does not match its checksums, the list is not signed by the
keyring, the published checksum was not checked, or the download was
interrupted (run again to resume), 2 usage, the URL cannot be opened,
FILE or FILE.map is not safe to use, or there is not enough space.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return withCode(exitUsage, errors.New("-o FILE is required"))
			}
			if workers < 1 || workers > 64 {
				return withCode(exitUsage, fmt.Errorf("--workers %d: want 1 to 64", workers))
			}
			return runFetch(cmd, a, &sf, &cf, args[0], out, fetch.Options{Workers: workers, ChunkSize: chunk, MapFile: mapFile, Force: force}, noVerify)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", "", "file to write (or a directory: the URL's file name in it)")
	fl.StringVar(&mapFile, "map", "", "mapfile path (default FILE.map)")
	fl.IntVar(&workers, "workers", fetch.DefaultWorkers, "range requests in flight")
	sizeVar(fl, &chunk, "chunk-size", 8<<20, httpsrc.BlockSize, 1<<30, "size of one range request (64K to 1G)")
	fl.BoolVar(&force, "force", false, "replace FILE if it exists and is not an interrupted download")
	fl.BoolVar(&noVerify, "no-verify", false, "skip the checks after the download")
	addCheckFlags(cmd, &cf)
	addSourceFlags(cmd, &sf)
	return cmd
}

func runFetch(cmd *cobra.Command, a *app, sf *sourceFlags, cf *checkFlags, url, out string, o fetch.Options, noVerify bool) error {
	if !isRemote(url) {
		return withCode(exitUsage, fmt.Errorf("%s: fetch takes an http://, https:// or s3:// URL", url))
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		name := fetch.FileName(url)
		if name == "" || name == "." || name == "/" || strings.ContainsAny(name, `/\`) {
			return withCode(exitUsage, fmt.Errorf("%s: no file name in the URL to save it under in %s: give -o FILE", url, out))
		}
		out = filepath.Join(out, name)
	}
	if cf.sha256 != "" {
		if b, err := hex.DecodeString(cf.sha256); err != nil || len(b) != 32 {
			return withCode(exitUsage, fmt.Errorf("--sha256 %q: want 64 hex digits", cf.sha256))
		}
	}
	kr, err := loadKeyring(cf.keyring)
	if err != nil {
		return err
	}
	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()
	src, err := sf.openRemote(ctx, url, func(ho *httpsrc.Options) {
		// A download reads each byte once: no prefetch at open, no tail.
		ho.OpenPrefetch, ho.OpenTail, ho.Concurrency, ho.CacheDir = httpsrc.PinOnly, -1, o.Workers, ""
	})
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer src.Close()
	bar := newProgress("fetch")
	bar.Start(src.Size())
	o.Progress = func(done, total int64) {
		if bar != nil {
			bar.done.Store(done)
		}
	}
	o.Note = func(s string) { a.notef("%s: %s", out, s) }
	start := time.Now()
	res, err := fetch.Download(ctx, src, out, o)
	bar.Finish()
	if err != nil {
		if errors.Is(err, fetch.ErrExists) || errors.Is(err, fetch.ErrUnsafe) || errors.Is(err, fetch.ErrNoSpace) {
			return withCode(exitUsage, err)
		}
		return withCode(exitDamaged, err)
	}
	w := cmd.OutOrStdout()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(w, "fetched:   %s (%d bytes; %d transferred in %.1f s, %.1f MB/s", termSafe(out), res.Size, res.Fetched, secs, float64(res.Fetched)/1e6/max(secs, 1e-3))
	if res.Resumed > 0 {
		fmt.Fprintf(w, "; %d were there from an interrupted run", res.Resumed)
	}
	fmt.Fprintln(w, ")")
	if noVerify {
		return nil
	}
	return checkAgainstPublished(ctx, a, w, sf, cf, kr, url, out, "")
}

// checkAgainstPublished checks the local file against the checksum list
// published beside url (or --sha256), its signature, and the image's own
// checksums, prints the verdict and returns the exit code it implies. by
// names a check already passed (a repair's), for the verdict when there
// is nothing else to check against.
func checkAgainstPublished(ctx context.Context, a *app, w io.Writer, sf *sourceFlags, cf *checkFlags, kr *sumsig.Keyring, url, file, by string) error {
	name := fetch.FileName(url)
	var pub *fetch.Published
	if cf.sha256 != "" {
		sum, _ := hex.DecodeString(cf.sha256)
		e := recover.SumEntry{Algo: "sha256", Sum: sum, Name: name}
		pub = &fetch.Published{List: "--sha256", Entries: []recover.SumEntry{e}, Entry: &e}
	} else {
		open := func(ctx context.Context, u string) (*httpsrc.Source, error) {
			return sf.openRemote(ctx, u, func(ho *httpsrc.Options) {
				ho.OpenTail, ho.CacheDir, ho.Retries = -1, "", 1
			})
		}
		var err error
		if pub, err = fetch.FindPublished(name, fetch.RemoteGetter(ctx, open, url), kr); err != nil {
			return withCode(exitUsage, err)
		}
		for _, n := range pub.Notes {
			a.log.WithField("image", url).Debug(n)
		}
	}
	return reportChecks(ctx, a, w, file, name, pub, kr, cf.keyring, by)
}

// reportChecks runs verify on the local file with the published entries
// and prints one line per check, the signature and the verdict.
func reportChecks(ctx context.Context, a *app, w io.Writer, file, name string, pub *fetch.Published, kr *sumsig.Keyring, keyring, by string) error {
	var rep *recover.VerifyReport
	// Only the entry for the image is checked, under the image's name:
	// the file must match it (any other entry matching would prove
	// nothing about this file; FindPublished took an own list's single
	// entry as the image's even when it names the file otherwise).
	var external []recover.SumEntry
	if pub.Entry != nil {
		e := *pub.Entry
		e.Name = name
		external = []recover.SumEntry{e}
	}
	img, err := isofmt.OpenFile(file, nil)
	if err == nil {
		rep, err = recover.Verify(ctx, img, recover.VerifyOptions{ImageName: name, External: external})
		img.Close()
	}
	if err != nil && rep == nil {
		// Not an image isofsd can open: the published checksum can
		// still be compared.
		a.log.WithField("file", file).Debugf("not opened as an image: %v", err)
		rep, err = hashOnly(ctx, file, name, pub)
		if err != nil {
			return withCode(exitUsage, err)
		}
	}
	damaged, checked := false, false
	for _, c := range rep.Checks {
		if !strings.HasPrefix(c.Name, "external ") && c.Name != "implanted md5" && !strings.HasPrefix(c.Name, "/") {
			continue
		}
		label := c.Name
		if strings.HasPrefix(c.Name, "external ") {
			label = strings.TrimPrefix(c.Name, "external ") + " (" + pub.List + ")"
		}
		fmt.Fprintf(w, "check:     %-28s %-8s %s\n", termSafe(label), c.Result, termSafe(c.Detail))
		switch c.Result {
		case recover.CheckDamaged:
			damaged = true
		case recover.CheckOK:
			checked = true
		}
	}
	if pub.Entry == nil && pub.List == "" {
		fmt.Fprintf(w, "check:     %-28s %-8s %s\n", "published checksum", recover.CheckAbsent, "no checksum list beside the image names it")
	}
	signed := true
	if pub.Signature != nil {
		// The signer's user ID comes from the keyring, the list's name
		// from the server.
		fmt.Fprintf(w, "signature: %s\n", termSafe(pub.Signature.String()))
		signed = pub.Signature.Trusted()
	} else if pub.List != "--sha256" {
		fmt.Fprintln(w, "signature: not signed (no checksum list names the image)")
		signed = false
	}
	switch {
	case damaged:
		fmt.Fprintln(w, "verdict:   DAMAGED: the file does not match its checksums")
		return withCode(exitDamaged, fmt.Errorf("%s does not match its checksums", file))
	case kr != nil && pub.Entry == nil:
		fmt.Fprintln(w, "verdict:   NOT VERIFIED: no checksum list beside the image names it (a signed list vouches only for the files it names)")
		return withCode(exitDamaged, fmt.Errorf("%s: no checksum list signed by a key of %s names %s", file, keyring, name))
	case kr != nil && !signed:
		fmt.Fprintln(w, "verdict:   NOT AUTHENTIC: the checksum list is not signed by a key of --keyring")
		return withCode(exitDamaged, fmt.Errorf("%s: checksum list not signed by a key of %s", file, keyring))
	case (pub.Entry != nil || kr != nil) && !rep.ExternalOK():
		// A published (or signed) checksum that was not compared vouches
		// for nothing, and the image's own md5sum.txt and implanted MD5
		// are whatever its maker put there: they never stand in for it.
		fmt.Fprintln(w, "verdict:   NOT VERIFIED: the file was not compared with its published checksum")
		return withCode(exitDamaged, fmt.Errorf("%s: not verified against the published checksum", file))
	case !checked && by != "":
		fmt.Fprintf(w, "verdict:   verified by %s\n", by)
	case !checked:
		fmt.Fprintln(w, "verdict:   not verified (nothing to check it against)")
	default:
		fmt.Fprintln(w, "verdict:   verified")
	}
	return nil
}

// hashOnly compares a file that is not an image with its published
// checksum.
func hashOnly(ctx context.Context, file, name string, pub *fetch.Published) (*recover.VerifyReport, error) {
	rep := &recover.VerifyReport{}
	if pub.Entry == nil {
		return rep, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := recover.NewHash(pub.Entry.Algo)
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	want := hex.EncodeToString(pub.Entry.Sum)
	c := recover.Check{Name: "external " + pub.Entry.Algo, Result: recover.CheckOK, Detail: "whole file matches " + want}
	if got != want {
		c.Result, c.Detail = recover.CheckDamaged, fmt.Sprintf("file %s, expected %s", got, want)
	}
	rep.Checks = append(rep.Checks, c)
	return rep, nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
