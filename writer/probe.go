package writer

// ProbeOptions points the device probe at the system files it reads. The
// zero value means the real system; tests substitute synthetic files.
// Fields that do not apply to the running platform are ignored.
type ProbeOptions struct {
	// SysRoot is the sysfs mount point (Linux; default "/sys").
	SysRoot string
	// DevRoot is where device nodes live (default "/dev").
	DevRoot string
	// MountInfo is the mountinfo file (Linux; default "/proc/self/mountinfo").
	MountInfo string
	// Swaps is the swap list (Linux; default "/proc/swaps").
	Swaps string
	// Diskutil is the diskutil command (macOS; default "diskutil").
	Diskutil string
}

func (o *ProbeOptions) withDefaults() ProbeOptions {
	var r ProbeOptions
	if o != nil {
		r = *o
	}
	if r.SysRoot == "" {
		r.SysRoot = "/sys"
	}
	if r.DevRoot == "" {
		r.DevRoot = "/dev"
	}
	if r.MountInfo == "" {
		r.MountInfo = "/proc/self/mountinfo"
	}
	if r.Swaps == "" {
		r.Swaps = "/proc/swaps"
	}
	if r.Diskutil == "" {
		r.Diskutil = "diskutil"
	}
	return r
}

// ListDevices returns every whole drive the platform probe finds, each
// assessed under the default Policy (no image size, no source, no force).
func ListDevices(o *ProbeOptions) ([]*Device, error) {
	devs, err := listDevices(o.withDefaults())
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		d.Assess(Policy{ImageSize: -1})
	}
	return devs, nil
}

// LookupDevice probes the drive at path (e.g. /dev/sdb). It fails for
// partitions and for paths that are not block devices.
func LookupDevice(path string, o *ProbeOptions) (*Device, error) {
	d, err := lookupDevice(path, o.withDefaults())
	if err != nil {
		return nil, err
	}
	d.Assess(Policy{ImageSize: -1})
	return d, nil
}

// SourceDevices returns the whole drives that hold the file at path:
// through its filesystem's device, partitions, device-mapper/md slaves and
// loop backing files. A target among them would overwrite its own source.
func SourceDevices(path string, o *ProbeOptions) ([]DevNum, error) {
	return sourceDevices(path, o.withDefaults())
}

// StackDevice is one block device met on the way from a file system down
// to the drives it is stored on.
type StackDevice struct {
	Dev DevNum
	// Disk is set for a device that is no partition (what SourceDevices
	// returns).
	Disk bool
	// BackingFile is the file a loop device reads.
	BackingFile string
}

// DevicesBelow returns every block device the file system holding path
// sits on, its own device first: partitions and their disks,
// device-mapper/md slaves, loop devices (with their backing files) and
// the devices holding those files. recover's carve uses it to keep its
// output off the disk it recovers from. On macOS it returns the file
// system's own device only.
func DevicesBelow(path string, o *ProbeOptions) ([]StackDevice, error) {
	return devicesBelow(path, o.withDefaults())
}
