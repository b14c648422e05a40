package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/fetch"
	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/repair"
	"github.com/isofsd/isofsd/repair/zsync"
)

func newRepairCmd(a *app) *cobra.Command {
	var (
		from, zsyncURL string
		workers        int
		noZsync        bool
		sf             sourceFlags
		cf             checkFlags
	)
	cmd := &cobra.Command{
		Use:   "repair FILE --from URL",
		Short: "Make a damaged or older local image the current one, downloading only the parts that differ",
		Long: `repair turns FILE — a damaged copy, or an older release — into the image at
URL (http://, https:// or s3://) by downloading only what differs:

  - with the zsync control file published beside the image (URL.zsync, as
    Ubuntu does and zsyncmake makes; or --zsync, or URL itself if it ends in
    .zsync): every block of the current image found anywhere in FILE is
    reused, the others are fetched and each is checked against the control
    file;
  - else with the image's own checksums (its isomd5sum fragment sums and the
    per-file sums of its md5sum.txt, read from the remote image): damaged
    files and stretches are found and fetched again until all checks pass.

The new file is assembled beside FILE (FILE.repair-RANDOM, a new file: a name
another user planted is never opened) and replaces it only once it verifies
(the control file's hash, the image's sums, and the checksum list published
beside the image or --sha256, signed by --keyring if given). FILE is called
unchanged only when it matches that published list too; when it does not but
the control file or the image's sums see nothing wrong, the ranges they
cannot vouch for (then the whole image) are downloaded again. A failed or
interrupted repair leaves FILE as it was.

Exit status: 0 repaired (or already current), 1 the result did not verify
(FILE untouched), 2 usage, or FILE or URL cannot be opened.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return withCode(exitUsage, errors.New("--from URL is required"))
			}
			if !isRemote(from) {
				return withCode(exitUsage, fmt.Errorf("--from %s: want an http://, https:// or s3:// URL", from))
			}
			if workers < 1 || workers > 64 {
				return withCode(exitUsage, fmt.Errorf("--workers %d: want 1 to 64", workers))
			}
			return runRepair(cmd, a, &sf, &cf, args[0], from, zsyncURL, noZsync, workers)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "URL of the current image (or of its .zsync control file)")
	fl.StringVar(&zsyncURL, "zsync", "", "zsync control file (URL or local path); default URL.zsync when published")
	fl.BoolVar(&noZsync, "no-zsync", false, "repair by the image's own checksums only")
	fl.IntVar(&workers, "workers", repair.DefaultWorkers, "range requests in flight")
	addCheckFlags(cmd, &cf)
	addSourceFlags(cmd, &sf)
	return cmd
}

func runRepair(cmd *cobra.Command, a *app, sf *sourceFlags, cf *checkFlags, file, from, zsyncURL string, noZsync bool, workers int) error {
	kr, err := loadKeyring(cf.keyring)
	if err != nil {
		return err
	}
	ctx, stop := recoverSignalContext(cmd.Context())
	defer stop()
	small := func(ctx context.Context, u string) (*httpsrc.Source, error) {
		return sf.openRemote(ctx, u, func(ho *httpsrc.Options) {
			ho.OpenPrefetch, ho.OpenTail, ho.CacheDir = httpsrc.PinOnly, -1, ""
		})
	}
	w := cmd.OutOrStdout()

	// The control file and the data URL.
	dataURL := from
	var ctl *zsync.Control
	if !noZsync {
		ctlURL := zsyncURL
		explicit := ctlURL != ""
		if strings.HasSuffix(strings.ToLower(from), ".zsync") {
			ctlURL, explicit = from, true
		} else if ctlURL == "" {
			ctlURL = from + ".zsync"
		}
		var data []byte
		var err error
		if isRemote(ctlURL) {
			data, err = fetch.ReadObject(ctx, small, ctlURL, zsync.MaxControl)
		} else {
			data, err = readLocal(ctlURL, zsync.MaxControl)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			a.notef("no zsync control file at %s: repairing by the image's own checksums", ctlURL)
		case err != nil:
			return withCode(exitUsage, fmt.Errorf("zsync control file %s: %w", ctlURL, err))
		default:
			if ctl, err = zsync.Parse(data); err != nil {
				return withCode(exitUsage, fmt.Errorf("%s: %w", ctlURL, err))
			}
			if ctlURL == from {
				if dataURL, err = controlDataURL(ctlURL, ctl); err != nil {
					return withCode(exitUsage, err)
				}
			}
		}
	}
	src, err := sf.openRemote(ctx, dataURL, func(ho *httpsrc.Options) {
		ho.OpenPrefetch, ho.OpenTail, ho.Concurrency, ho.CacheDir = httpsrc.PinOnly, -1, workers, ""
	})
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer src.Close()

	// The published checksum list (and signature) the result must match.
	name := fetch.FileName(dataURL)
	if kr != nil && cf.sha256 == "" {
		// No download can make a list authentic: say so before
		// fetching anything (the checks below would fail only after
		// a whole image was downloaded in vain).
		pub, err := fetch.FindPublished(name, fetch.RemoteGetter(ctx, small, dataURL), kr)
		if err != nil {
			return withCode(exitUsage, err)
		}
		switch {
		case pub.Signature == nil || !pub.Signature.Trusted():
			sig := "not signed (no checksum list names " + name + ")"
			if pub.Signature != nil {
				sig = pub.Signature.String()
			}
			fmt.Fprintf(w, "signature: %s\nverdict:   NOT AUTHENTIC: no checksum list signed by a key of --keyring names %s\n", termSafe(sig), termSafe(name))
			return withCode(exitDamaged, fmt.Errorf("%s: no checksum list signed by a key of %s names %s: %s is unchanged", file, cf.keyring, name, file))
		case pub.Entry == nil:
			fmt.Fprintf(w, "verdict:   NOT AUTHENTIC: the signed %s has no entry for %s\n", termSafe(pub.List), termSafe(name))
			return withCode(exitDamaged, fmt.Errorf("%s: the signed %s has no entry for %s: %s is unchanged", file, pub.List, name, file))
		}
	}
	// verify checks the assembled file before it replaces FILE, and FILE
	// itself before it is called unchanged: the control file and the
	// image's own sums come from the server unsigned, the published list
	// (signed, with --keyring) has the last word.
	verify := func(path string) error {
		what := "the repaired file"
		if path == file {
			what = termSafe(file)
			fmt.Fprintf(w, "checking %s against the published checksum before calling it current:\n", what)
		} else {
			fmt.Fprintf(w, "checking the repaired file before it replaces %s:\n", termSafe(file))
		}
		by := "the image's own checksums"
		if ctl != nil {
			by = "the zsync control file (MD4 of each block)"
			if ctl.HashName != "" {
				by = "the zsync control file (" + ctl.HashName + " of the whole file, MD4 of each block)"
			}
		}
		err := checkAgainstPublished(ctx, a, w, sf, cf, kr, dataURL, path, by)
		var ee *exitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ee) && ee.code == exitDamaged:
			// The bytes do not match (or the list is not signed):
			// repair fetches what its own sums cannot vouch for.
			return withCode(exitDamaged, fmt.Errorf("%s: %s did not verify; %s is unchanged: %w: %w", file, what, file, repair.ErrUnverified, err))
		}
		return withCode(exitDamaged, fmt.Errorf("%s: %s could not be checked; %s is unchanged: %w", file, what, file, err))
	}
	var bar *progress
	phase := ""
	o := repair.Options{Workers: workers, Verify: verify,
		Note: func(s string) { a.notef("%s: %s", file, s) },
		Progress: func(p string, done, total int64) {
			if p != phase {
				bar.Finish()
				bar, phase = newProgress(p), p
				bar.Start(total)
			}
			if bar != nil {
				bar.done.Store(done)
			}
		},
	}
	var res *repair.Result
	if ctl != nil {
		res, err = repair.Zsync(ctx, file, ctl, src, o)
	} else {
		res, err = repair.Checksums(ctx, file, src, o)
	}
	bar.Finish()
	if err != nil {
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			return err
		case errors.Is(err, repair.ErrMismatch):
			return withCode(exitDamaged, err)
		case errors.Is(err, repair.ErrNoChecksums), errors.Is(err, fs.ErrNotExist):
			return withCode(exitUsage, err)
		}
		return withCode(exitDamaged, err)
	}
	if res.Unchanged {
		fmt.Fprintf(w, "unchanged: %s is already the current image (%s)\n", termSafe(file), termSafe(name))
		return nil
	}
	fmt.Fprintf(w, "repaired:  %s by %s: %d bytes reused from the local copy, %d fetched in %d requests\n",
		termSafe(file), res.Method, res.Reused, res.Fetched, res.Requests)
	return nil
}

// controlDataURL is the image URL a control file fetched from ctlURL
// names: its URL field, which must be relative (beside the control file).
func controlDataURL(ctlURL string, ctl *zsync.Control) (string, error) {
	if len(ctl.URLs) == 0 {
		return "", fmt.Errorf("%s names no URL for the image: give the image's URL with --from and the control file with --zsync", ctlURL)
	}
	ref, err := url.Parse(ctl.URLs[0])
	if err != nil || ref.IsAbs() || ref.Host != "" || strings.Contains(ctl.URLs[0], "/") || ctl.URLs[0] == "" {
		return "", fmt.Errorf("%s points to %q, not to a file beside it: give the image's URL with --from and the control file with --zsync", ctlURL, ctl.URLs[0])
	}
	return fetch.SiblingURL(ctlURL, ctl.URLs[0])
}

// readLocal reads a local file of at most max bytes.
func readLocal(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("larger than %d bytes", max)
	}
	return b, err
}
