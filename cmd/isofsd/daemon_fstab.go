package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/mounter"
)

// helperNames are the argv[0] values that mean "called by mount(8) as a
// mount helper": /sbin/mount.isofsd, or /sbin/mount.fuse.isofsd when
// installed for fstab type fuse.isofsd without mount.fuse3.
var helperNames = map[string]bool{"mount.isofsd": true, "mount.fuse.isofsd": true}

// mountHelperArgs rewrites a mount helper invocation into `isofsd mount`
// arguments. mount.fuse3 runs `isofsd IMAGE MOUNTPOINT -o opts` for fstab
// type fuse.isofsd: that form is recognised when the first argument is an
// existing file or block device and the second an existing directory, so
// no subcommand can be mistaken for it. Options go through
// mounter.ParseFstabOptions; fstab-only options (nofail, _netdev,
// x-systemd.*, …) are dropped, unknown ones dropped with a warning.
func mountHelperArgs(argv0 string, args []string) ([]string, bool) {
	forced := helperNames[argv0]
	if !forced && !looksLikeHelperCall(args) {
		return nil, false
	}
	c, err := mounter.ParseHelperArgs(args)
	if err != nil {
		if !forced {
			return nil, false
		}
		helperExit(err)
	}
	fo, err := mounter.ParseFstabOptions(c.Options)
	if err != nil {
		helperExit(fmt.Errorf("%s: %w", c.Mountpoint, err))
	}
	for _, u := range fo.Unknown {
		fmt.Fprintf(os.Stderr, "isofsd: %s: ignoring unknown mount option %q\n", c.Mountpoint, u)
	}
	out := []string{"mount"}
	if fo.Tree != "" {
		out = append(out, "--tree", fo.Tree)
	}
	if fo.CacheSize != "" {
		out = append(out, "--cache-size", fo.CacheSize)
	}
	if fo.UID != nil {
		out = append(out, "--uid", strconv.FormatUint(uint64(*fo.UID), 10))
	}
	if fo.GID != nil {
		out = append(out, "--gid", strconv.FormatUint(uint64(*fo.GID), 10))
	}
	if fo.Umask != nil {
		out = append(out, "--umask", strconv.FormatUint(uint64(*fo.Umask), 8))
	}
	var kernel []string
	if fo.AllowOther {
		kernel = append(kernel, "allow_other")
	}
	for _, b := range []struct {
		on  bool
		opt string
	}{{fo.Debug, "debug"}, {fo.Xattr, "xattr"}, {fo.DirectIO, "direct_io"}, {fo.Nonempty, "nonempty"}, {fo.TrustImageSuid, "trust_image_suid"}} {
		if b.on {
			kernel = append(kernel, b.opt)
		}
	}
	kernel = append(kernel, fo.Kernel...)
	if len(kernel) > 0 {
		out = append(out, "-o", strings.Join(kernel, ","))
	}
	if c.Verbose {
		out = append(out, "--log-level", "debug")
	}
	return append(out, "--", c.Image, c.Mountpoint), true
}

// looksLikeHelperCall reports whether args start with an existing image
// (a regular file or block device) followed by an existing directory,
// the first not being the name of a subcommand (a file called "ls" in the
// working directory must not turn `isofsd ls DIR` into a mount).
func looksLikeHelperCall(args []string) bool {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return false
	}
	for _, c := range newRootCmd(&app{log: logrus.New()}).Commands() {
		if c.Name() == args[0] || c.HasAlias(args[0]) {
			return false
		}
	}
	st, err := os.Stat(args[0])
	if err != nil || !(st.Mode().IsRegular() || st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0) {
		return false
	}
	st, err = os.Stat(args[1])
	return err == nil && st.IsDir()
}

// helperExit reports a bad mount helper call the way mount(8) expects:
// a message on stderr and a failure status (the usage code). It runs
// before cobra, so it exits itself.
var helperExit = func(err error) {
	fmt.Fprintf(os.Stderr, "isofsd: %v\n", err)
	os.Exit(exitUsage)
}
