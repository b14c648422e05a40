package mounter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FstabOptions is what an fstab options field (or `mount -o`) asks of
// an isofsd mount. ParseFstabOptions is the one place these options are
// understood: `isofsd mount -o` and the mount helper entry points
// (mount.fuse3 calling `isofsd IMAGE DIR -o opts`, and `mount.isofsd`) go
// through it.
type FstabOptions struct {
	Tree       string
	CacheSize  string // as written ("64M"); checked by the mount command
	UID, GID   *uint32
	Umask      *uint32
	AllowOther bool
	Debug      bool
	Xattr      bool
	DirectIO   bool
	// Nonempty allows mounting over a directory that has entries.
	Nonempty bool
	// TrustImageSuid lifts nosuid,nodev (see Options.TrustImageSuid):
	// a name mount(8) never adds by itself, unlike suid and dev.
	TrustImageSuid bool
	// Kernel holds per-mount kernel options (noexec, noatime, …, and
	// the suid/dev that mount(8) adds, which Options drops).
	Kernel []string
	// Ignored holds options that only mean something to mount(8),
	// systemd or other file systems; Unknown those nobody knows. Both
	// are dropped; the caller logs Unknown.
	Ignored []string
	Unknown []string
}

// ignoredOptions are meant for mount(8), fstab processing or systemd,
// never for the file system.
var ignoredOptions = map[string]bool{
	"defaults": true, "ro": true, "auto": true, "noauto": true, "user": true, "nouser": true,
	"users": true, "owner": true, "group": true, "nofail": true, "_netdev": true, "sync": true,
	"async": true, "silent": true, "loud": true, "comment": true, "nodelalloc": true,
}

// ErrReadWrite is returned for "rw": the file system cannot be written.
var ErrReadWrite = errors.New("option rw: isofsd mounts are read-only")

// ParseFstabOptions parses a comma-separated option list.
func ParseFstabOptions(s string) (FstabOptions, error) {
	var o FstabOptions
	for _, opt := range strings.Split(s, ",") {
		opt = strings.TrimSpace(opt)
		k, v, hasValue := strings.Cut(opt, "=")
		switch {
		case opt == "":
		case opt == "rw":
			return o, ErrReadWrite
		case opt == "allow_other":
			o.AllowOther = true
		case opt == "debug":
			o.Debug = true
		case opt == "xattr":
			o.Xattr = true
		case opt == "direct_io":
			o.DirectIO = true
		case opt == "nonempty":
			o.Nonempty = true
		case opt == "trust_image_suid":
			o.TrustImageSuid = true
		case k == "uid" || k == "gid" || k == "umask":
			base := 10
			if k == "umask" {
				base = 8
			}
			n, err := strconv.ParseUint(v, base, 32)
			if err != nil || !hasValue || (k == "umask" && n > 0o777) {
				return o, fmt.Errorf("option %s: want a number", opt)
			}
			u := uint32(n)
			switch k {
			case "uid":
				o.UID = &u
			case "gid":
				o.GID = &u
			default:
				o.Umask = &u
			}
		case k == "tree":
			switch v {
			case "udf", "rockridge", "joliet", "iso9660":
				o.Tree = v
			default:
				return o, fmt.Errorf("option %s: want udf, rockridge, joliet or iso9660", opt)
			}
		case k == "cache_size":
			if v == "" {
				return o, fmt.Errorf("option %s: want a size such as 64M", opt)
			}
			o.CacheSize = v
		case isKernelOption(opt) && !ignoredOptions[opt]:
			o.Kernel = append(o.Kernel, opt)
		case ignoredOptions[opt], ignoredOptions[k] && hasValue,
			strings.HasPrefix(opt, "x-"), // x-systemd.*, x-gvfs-*, x-mount.*: userspace only
			k == "fsname" || k == "subtype" || k == "context" || k == "helper":
			o.Ignored = append(o.Ignored, opt)
		default:
			o.Unknown = append(o.Unknown, opt)
		}
	}
	return o, nil
}

// HelperCall is a mount helper invocation: the form mount.fuse3 uses for
// fstab type fuse.isofsd (`isofsd IMAGE DIR -o opts`) and the form mount(8)
// uses for /sbin/mount.isofsd (`mount.isofsd IMAGE DIR [-sfnv] [-o opts]
// [-t type]`).
type HelperCall struct {
	Image, Mountpoint string
	Options           string
	Verbose           bool
}

// ParseHelperArgs parses a mount helper argument list.
func ParseHelperArgs(args []string) (HelperCall, error) {
	var c HelperCall
	var pos []string
	var opts []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t":
			if i+1 >= len(args) {
				return c, fmt.Errorf("%s needs a value", a)
			}
			if a == "-o" {
				opts = append(opts, args[i+1])
			}
			i++
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, a[2:])
		case strings.HasPrefix(a, "-t"):
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			// mount(8)'s helper flags: -s sloppy, -n no mtab, -v
			// verbose; any combination. (-f, a fake mount, never
			// reaches a helper.)
			for _, ch := range a[1:] {
				switch ch {
				case 's', 'n':
				case 'v':
					c.Verbose = true
				default:
					return c, fmt.Errorf("unknown mount helper flag -%c", ch)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return c, fmt.Errorf("mount helper: want IMAGE MOUNTPOINT, got %d arguments", len(pos))
	}
	c.Image, c.Mountpoint, c.Options = pos[0], pos[1], strings.Join(opts, ",")
	return c, nil
}
