package mounter

import (
	"fmt"
	"slices"
	"strings"
)

// Per-mount kernel options a mount may ask for. Every mount is read-only,
// nosuid, nodev and default_permissions whatever it asks (see
// sanitizeKernelOptions), so those are accepted and change nothing.
var (
	// userKernelOptions are passed on as asked.
	userKernelOptions = []string{"noexec", "exec", "noatime", "relatime", "nodiratime", "strictatime", "lazytime"}
	// alwaysOptions are set on every mount anyway.
	alwaysOptions = []string{"ro", "nosuid", "nodev", "default_permissions"}
	// trustOptions are what mount(8) and mount.fuse3 add by themselves
	// (an fstab line run by root gets dev,suid): never honoured, since
	// images are untrusted; only Options.TrustImageSuid lifts
	// nosuid,nodev.
	trustOptions = []string{"suid", "dev"}
)

// isKernelOption reports whether opt is a per-mount kernel option isofsd
// knows (passed on, always set, or dropped for safety).
func isKernelOption(opt string) bool {
	return slices.Contains(userKernelOptions, opt) || slices.Contains(alwaysOptions, opt) || slices.Contains(trustOptions, opt)
}

// sanitizeKernelOptions splits a mount's kernel options into those passed
// on and those dropped: suid and dev, which only TrustImageSuid may
// grant, and the options every mount has anyway. Anything else is an
// error naming it.
func sanitizeKernelOptions(opts []string) (keep, dropped []string, err error) {
	for _, o := range opts {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case slices.Contains(userKernelOptions, o):
			if !slices.Contains(keep, o) {
				keep = append(keep, o)
			}
		case slices.Contains(alwaysOptions, o):
		case slices.Contains(trustOptions, o):
			dropped = append(dropped, o)
		default:
			return nil, nil, fmt.Errorf("%w: -o %s (isofsd passes on only %s)", ErrBadOption, o, strings.Join(userKernelOptions, ", "))
		}
	}
	return keep, dropped, nil
}
