package writer

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/isofsd/isofsd/internal/units"
)

// Transport says how a drive is attached. It is the main signal for
// telling a USB stick from an internal disk: many USB enclosures report
// removable=0, so the removable flag alone is not enough.
type Transport string

// Transports the probes report.
const (
	TransportUSB     Transport = "usb"
	TransportMMC     Transport = "mmc"
	TransportSATA    Transport = "sata"
	TransportSCSI    Transport = "scsi"
	TransportNVMe    Transport = "nvme"
	TransportVirtual Transport = "virtual" // virtio, xen, device-mapper, md, zram, ...
	TransportLoop    Transport = "loop"    // a loop device: backed by a file
	TransportOther   Transport = "other"
)

// DevNum is a device number (major:minor on Unix, the disk number on
// Windows with Major 0).
type DevNum struct {
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
}

func (d DevNum) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// Mount is a mounted filesystem found on a drive, one of its partitions or
// one of its holders.
type Mount struct {
	Device string `json:"device"` // the partition or holder that is mounted, e.g. "sdb1" or "dm-0"
	// Via says how a stacked device sits on the drive, e.g. "a loop
	// device on loop0", "stacked on sdb1"; empty for the drive and its
	// partitions.
	Via        string `json:"via,omitempty"`
	MountPoint string `json:"mount_point"` // where it is mounted
	FSType     string `json:"fs_type,omitempty"`
}

// Device is one candidate drive.
type Device struct {
	Path             string    `json:"path"` // /dev/sdb, /dev/rdisk4, \\.\PhysicalDrive2
	Name             string    `json:"name"` // sdb, disk4, PhysicalDrive2
	Num              DevNum    `json:"devnum"`
	Size             int64     `json:"size"`
	LogicalBlockSize int       `json:"logical_block_size"`
	Vendor           string    `json:"vendor,omitempty"`
	Model            string    `json:"model,omitempty"`
	Serial           string    `json:"serial,omitempty"`
	Transport        Transport `json:"transport"`
	Removable        bool      `json:"removable"`
	ReadOnly         bool      `json:"read_only"`
	Partitions       []string  `json:"partitions,omitempty"`
	Holders          []string  `json:"holders,omitempty"` // devices stacked on it: device-mapper, md, loop devices backed by it
	// HeldBy lists stacked devices that something holds exclusively
	// (LVM, md, a program) though nothing is mounted on them.
	HeldBy      []string `json:"held_by,omitempty"`
	Mounts      []Mount  `json:"mounts,omitempty"`
	Swaps       []string `json:"swaps,omitempty"`  // swap areas on it
	System      bool     `json:"system,omitempty"` // holds the root filesystem
	BackingFile string   `json:"backing_file,omitempty"`
	// backing identifies the file a loop device reads (Linux), by device
	// and inode as the loop device itself reports them: a loop device
	// over the source is refused however its file is named now.
	backing *fileID
	// Eligible and Problems are the verdict under the default policy (or
	// the policy of the write being planned).
	Eligible bool      `json:"eligible"`
	Problems []Problem `json:"problems,omitempty"`
}

// Describe is a one-line summary for confirmations and logs.
func (d *Device) Describe() string {
	id := strings.TrimSpace(d.Vendor + " " + d.Model)
	if id == "" {
		id = "unknown model"
	}
	return fmt.Sprintf("%s: %s, %s, %s", d.Path, id, units.Bytes(d.Size), d.Transport)
}

// ProblemCode classifies why a target is refused.
type ProblemCode string

// Problem codes. Only ProblemTransport can be overridden (by Force, or by
// AllowLoop for loop devices).
const (
	ProblemTransport ProblemCode = "not-removable"
	ProblemReadOnly  ProblemCode = "read-only"
	ProblemMounted   ProblemCode = "mounted"
	ProblemSwap      ProblemCode = "swap"
	ProblemHeld      ProblemCode = "held"   // a device stacked on the target is in use
	ProblemExists    ProblemCode = "exists" // a regular file would be overwritten
	ProblemSystem    ProblemCode = "system"
	ProblemSource    ProblemCode = "holds-source"
	ProblemTooSmall  ProblemCode = "too-small"
	ProblemNotDevice ProblemCode = "not-a-device"
	ProblemImage     ProblemCode = "image" // the image itself must not be written raw
	ProblemIdentity  ProblemCode = "not-the-drive-picked"
)

// Problem is one reason a target is not eligible.
type Problem struct {
	Code ProblemCode `json:"code"`
	// Detail says what is wrong, in words that hold for every command
	// that checks targets (write, rescue, burn's pseudo-drives).
	Detail string `json:"detail"`
	// Overridable problems are lifted by --force (or --allow-loop,
	// --to-file: Override says which).
	Overridable bool `json:"overridable"`
	// Override is how write and rescue lift an Overridable problem
	// ("allow it with --allow-loop or --force"); commands without those
	// flags show Detail alone.
	Override string `json:"override,omitempty"`
}

// String is Detail with the Override hint, for write and rescue.
func (p Problem) String() string {
	if p.Override == "" {
		return p.Detail
	}
	return p.Detail + "; " + p.Override
}

// ErrRefused is wrapped by every error that refuses a target or an image.
var ErrRefused = errors.New("writer: refused")

// ErrUnsupported is returned where the platform has no device probe.
var ErrUnsupported = errors.New("writer: not supported on this platform")

// Policy is what the safety rules are evaluated against.
type Policy struct {
	// Force lifts the removable/transport rule, and only that rule.
	Force bool
	// AllowLoop makes loop devices eligible without Force. Loop devices
	// are backed by files, so writing one cannot wipe a physical disk; the
	// backing file still must not hold the source (checked separately).
	AllowLoop bool
	// ImageSize is the number of bytes to be written; <0 if unknown (a
	// stream), in which case the size rule is applied while writing.
	ImageSize int64
	// SourceDevs are the devices that hold the source image (the whole
	// disks, resolved through partitions, holders and loop backing files).
	SourceDevs []DevNum
	// SourceName names the source in messages.
	SourceName string
	// Source is the source file, if any: it is never a target itself,
	// nor is a loop device backed by it (writing one would overwrite the
	// source while it is read).
	Source os.FileInfo
}

// Assess evaluates the safety rules for d under p and stores the verdict in
// d.Eligible and d.Problems.
func (d *Device) Assess(p Policy) {
	var probs []Problem
	// override is how write lifts the problem; "" for the rules nothing lifts.
	add := func(code ProblemCode, override string, format string, args ...any) {
		probs = append(probs, Problem{Code: code, Detail: fmt.Sprintf(format, args...), Overridable: override != "", Override: override})
	}
	switch {
	case d.Transport == TransportUSB || d.Transport == TransportMMC || d.Removable:
	case d.Transport == TransportLoop && (p.AllowLoop || p.Force):
	case p.Force:
	case d.Transport == TransportLoop:
		add(ProblemTransport, "allow it with --allow-loop or --force", "%s is a loop device, not a USB/MMC/removable drive", d.Path)
	default:
		add(ProblemTransport, "override with --force only if you are sure", "%s is a %s drive, not USB/MMC/removable: it may be an internal disk", d.Path, d.Transport)
	}
	if d.ReadOnly {
		add(ProblemReadOnly, "", "%s is read-only", d.Path)
	}
	if d.System {
		add(ProblemSystem, "", "%s holds the running system (the root filesystem is on it)", d.Path)
	}
	for _, m := range d.Mounts {
		who := m.Device
		if m.Via != "" {
			who += " (" + m.Via + ")"
		}
		add(ProblemMounted, "", "%s is mounted at %s (%s); unmount it first%s", who, m.MountPoint, m.FSType, unmountHint(d))
	}
	for _, h := range d.HeldBy {
		add(ProblemHeld, "", "%s is in use (held open exclusively) though not mounted; stop what uses it first", h)
	}
	for _, s := range d.Swaps {
		add(ProblemSwap, "", "%s is in use as swap (%s)", d.Path, s)
	}
	src := p.SourceName
	if src == "" {
		src = "the source image"
	}
	for _, s := range p.SourceDevs {
		if d.Num == s {
			add(ProblemSource, "", "%s holds the source image %s", d.Path, src)
			break
		}
	}
	if d.backing != nil && p.Source != nil {
		if id, ok := fileIDOf(p.Source); ok && id == *d.backing {
			add(ProblemSource, "", "%s is backed by the source image %s", d.Path, src)
		}
	}
	if p.ImageSize >= 0 && d.Size < p.ImageSize {
		add(ProblemTooSmall, "", "%s is too small: %s (%d bytes) for an image of %s (%d bytes)", d.Path, units.Bytes(d.Size), d.Size, units.Bytes(p.ImageSize), p.ImageSize)
	}
	d.Problems = probs
	d.Eligible = len(probs) == 0
}

// Verdict is "eligible" or the reasons joined by "; ".
func (d *Device) Verdict() string {
	if d.Eligible {
		return "eligible"
	}
	s := make([]string, len(d.Problems))
	for i, p := range d.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// fileID identifies a file by device and inode.
type fileID struct {
	dev DevNum
	ino uint64
}
