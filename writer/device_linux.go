//go:build linux

package writer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxStackDepth caps how far holders, slaves and loop backing files are
// followed: real stacks (disk → partition → LUKS → LVM → loop) are a few
// levels deep; the cap only guards against a cycle in a synthetic tree.
const maxStackDepth = 16

// maxSerialWalk caps the walk up the sysfs device path looking for the USB
// device's serial attribute.
const maxSerialWalk = 12

// sysProbe reads sysfs and procfs once per call.
type sysProbe struct {
	o       ProbeOptions
	mounts  []mountEntry
	swaps   []swapArea
	loopMap map[string]loopBacking
}

type swapArea struct {
	Name string
	Num  DevNum // the block device, or the device of the filesystem holding a swap file
}

func newSysProbe(o ProbeOptions) (*sysProbe, error) {
	p := &sysProbe{o: o}
	f, err := os.Open(o.MountInfo)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	p.mounts, err = parseMountInfo(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.MountInfo, err)
	}
	if f, err := os.Open(o.Swaps); err == nil {
		names, err := parseSwaps(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Swaps, err)
		}
		for _, n := range names {
			var st unix.Stat_t
			if unix.Stat(n, &st) != nil {
				continue
			}
			num := devNum(st.Dev)
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				num = devNum(st.Rdev)
			}
			p.swaps = append(p.swaps, swapArea{Name: n, Num: num})
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading swaps: %w", err)
	}
	return p, nil
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(path string) (int64, bool) {
	v, err := strconv.ParseInt(readTrim(path), 10, 64)
	return v, err == nil
}

func listDevices(o ProbeOptions) ([]*Device, error) {
	p, err := newSysProbe(o)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(o.SysRoot, "block"))
	if err != nil {
		return nil, fmt.Errorf("listing drives: %w", err)
	}
	var out []*Device
	for _, e := range ents {
		name := e.Name()
		// RAM disks and unbound loop devices are never write targets.
		if strings.HasPrefix(name, "ram") {
			continue
		}
		if sz, ok := readInt(filepath.Join(o.SysRoot, "block", name, "size")); !ok || sz == 0 {
			continue
		}
		d, err := p.device(name)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func lookupDevice(path string, o ProbeOptions) (*Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("%s: %w: not a block device", path, ErrRefused)
	}
	num := devNum(st.Rdev)
	dir := filepath.Join(o.SysRoot, "dev", "block", num.String())
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		disk := filepath.Base(filepath.Dir(resolve(dir)))
		return nil, fmt.Errorf("%s: %w: it is a partition; write to the whole drive (%s)", path, ErrRefused, filepath.Join(o.DevRoot, disk))
	}
	real := resolve(dir)
	if real == "" {
		return nil, fmt.Errorf("%s: device %s not found in %s", path, num, o.SysRoot)
	}
	p, err := newSysProbe(o)
	if err != nil {
		return nil, err
	}
	d, err := p.device(filepath.Base(real))
	if err != nil {
		return nil, err
	}
	d.Path = path
	// The size the kernel reports to an opener is authoritative; sysfs
	// may lag a media change on card readers.
	if f, err := os.Open(path); err == nil {
		if sz, err := unix.IoctlGetUint64(int(f.Fd()), unix.BLKGETSIZE64); err == nil {
			d.Size = int64(sz)
		}
		if bs, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && bs > 0 {
			d.LogicalBlockSize = bs
		}
		f.Close()
	}
	return d, nil
}

// resolve returns the symlink-free path of p, or "" if it does not exist.
func resolve(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return r
}

// device builds the Device for the whole drive /sys/block/name.
func (p *sysProbe) device(name string) (*Device, error) {
	o := p.o
	dir := filepath.Join(o.SysRoot, "block", name)
	num, err := parseDevNum(readTrim(filepath.Join(dir, "dev")))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	d := &Device{Path: filepath.Join(o.DevRoot, name), Name: name, Num: num}
	if sz, ok := readInt(filepath.Join(dir, "size")); ok {
		d.Size = sz * 512 // sysfs counts 512-byte sectors whatever the block size
	}
	d.LogicalBlockSize = 512
	if bs, ok := readInt(filepath.Join(dir, "queue", "logical_block_size")); ok && bs > 0 {
		d.LogicalBlockSize = int(bs)
	}
	d.ReadOnly = readTrim(filepath.Join(dir, "ro")) == "1"
	d.Removable = readTrim(filepath.Join(dir, "removable")) == "1"
	real := resolve(dir)
	devLink := resolve(filepath.Join(dir, "device"))
	d.Transport = classifyTransport(name, real, devLink)
	d.Vendor = readTrim(filepath.Join(dir, "device", "vendor"))
	if strings.HasPrefix(d.Vendor, "0x") {
		d.Vendor = "" // a PCI vendor id (virtio), not a name
	}
	d.Model = readTrim(filepath.Join(dir, "device", "model"))
	if d.Model == "" { // MMC cards name themselves in "name"
		d.Model = readTrim(filepath.Join(dir, "device", "name"))
	}
	d.Serial = readTrim(filepath.Join(dir, "device", "serial"))
	if d.Serial == "" && devLink != "" {
		d.Serial = walkUpFor(devLink, "serial", o.SysRoot)
	}
	if d.Serial == "" {
		d.Serial = readTrim(filepath.Join(dir, "device", "wwid"))
	}
	if d.Transport == TransportLoop {
		d.BackingFile = readTrim(filepath.Join(dir, "loop", "backing_file"))
		if b, ok := p.loops()[name]; ok && !b.isDev {
			d.backing = &fileID{dev: b.dev, ino: b.ino}
		}
		if d.Model == "" {
			d.Model = "loop device"
		}
	}

	// Everything that, if mounted or swapped on, makes the drive busy:
	// the drive, its partitions, and whatever is stacked on any of them
	// (device-mapper and md holders, loop devices backed by them, and so
	// on up).
	busy := map[DevNum]string{num: name}
	p.addStack(dir, busy, &d.Holders, 0)
	d.Partitions = partitionsOf(dir)
	p.heldHolders(d, busy)

	for _, m := range p.mounts {
		who, ok := busy[m.Num]
		if !ok {
			// btrfs and others report an anonymous device number; fall
			// back to the mount source when it is a device node.
			if strings.HasPrefix(m.Source, "/") {
				var st unix.Stat_t
				if unix.Stat(m.Source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
					who, ok = busy[devNum(st.Rdev)]
				}
			}
		}
		if !ok {
			continue
		}
		name, via := splitLabel(who)
		d.Mounts = append(d.Mounts, Mount{Device: name, Via: via, MountPoint: m.MountPoint, FSType: m.FSType})
		if m.MountPoint == "/" {
			d.System = true
		}
	}
	for _, s := range p.swaps {
		if who, ok := busy[s.Num]; ok {
			if _, via := splitLabel(who); via != "" {
				d.Swaps = append(d.Swaps, s.Name+" on "+who)
				continue
			}
			d.Swaps = append(d.Swaps, s.Name)
		}
	}
	return d, nil
}

// partitionsOf lists the partitions of the drive at sysfs dir, sorted.
func partitionsOf(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// addStack adds to busy everything that sits on the device at sysfs dir:
// its partitions, the device-mapper/md/bcache devices in its holders, the
// loop devices whose backing file is the device (loop does not register
// as a holder), and, recursively, what sits on those. names collects the
// stacked devices (not the partitions) with what they sit on.
func (p *sysProbe) addStack(dir string, busy map[DevNum]string, names *[]string, depth int) {
	if depth >= maxStackDepth {
		return
	}
	base := filepath.Base(dir)
	add := func(sub, label string, stacked bool) {
		n, err := parseDevNum(readTrim(filepath.Join(sub, "dev")))
		if err != nil {
			return
		}
		if _, seen := busy[n]; seen {
			return
		}
		busy[n] = label
		if stacked {
			name, _ := splitLabel(label)
			*names = append(*names, name)
		}
		p.addStack(sub, busy, names, depth+1)
	}
	for _, part := range partitionsOf(dir) {
		add(filepath.Join(dir, part), part, false)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "holders"))
	for _, e := range ents {
		add(filepath.Join(p.o.SysRoot, "block", e.Name()), e.Name()+" (stacked on "+base+")", true)
	}
	if n, err := parseDevNum(readTrim(filepath.Join(dir, "dev"))); err == nil {
		for _, l := range p.loopsOn(func(b loopBacking) bool { return b.isDev && b.dev == n }) {
			add(filepath.Join(p.o.SysRoot, "block", l), l+" (a loop device on "+base+")", true)
		}
	}
}

// splitLabel splits a busy-map label "loop5 (a loop device on loop0)"
// into the device name and how it sits on the drive.
func splitLabel(label string) (name, via string) {
	name, via, _ = strings.Cut(label, " (")
	return name, strings.TrimSuffix(via, ")")
}

// loopBacking is what a loop device reads and writes: a block device, or
// a file identified by device and inode.
type loopBacking struct {
	isDev    bool
	dev      DevNum // the block device, or the device of the file system holding the file
	ino      uint64
	resolved bool
}

// loops maps every bound loop device to its backing (read once).
func (p *sysProbe) loops() map[string]loopBacking {
	if p.loopMap != nil {
		return p.loopMap
	}
	p.loopMap = map[string]loopBacking{}
	ents, _ := os.ReadDir(filepath.Join(p.o.SysRoot, "block"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		bf := readTrim(filepath.Join(p.o.SysRoot, "block", e.Name(), "loop", "backing_file"))
		if bf == "" {
			continue
		}
		var b loopBacking
		var st unix.Stat_t
		if unix.Stat(bf, &st) == nil {
			b.resolved = true
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				b.isDev, b.dev = true, devNum(st.Rdev)
			} else {
				b.dev, b.ino = devNum(st.Dev), st.Ino
			}
		}
		// The name in sysfs may be stale (renamed, deleted, another mount
		// namespace): the loop device itself knows the file's identity.
		if lb, ok := loopStatus(filepath.Join(p.o.DevRoot, e.Name())); ok && !b.isDev {
			b.dev, b.ino, b.resolved = lb.dev, lb.ino, true
		}
		if b.resolved {
			p.loopMap[e.Name()] = b
		}
	}
	return p.loopMap
}

// loopsOn lists the loop devices whose backing matches, sorted.
func (p *sysProbe) loopsOn(match func(loopBacking) bool) []string {
	var out []string
	for name, b := range p.loops() {
		if match(b) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// loopStatus reads the backing file's device and inode from the loop
// device (LOOP_GET_STATUS64). Only root can open the node; callers fall
// back to the sysfs name.
func loopStatus(dev string) (loopBacking, bool) {
	f, err := os.Open(dev)
	if err != nil {
		return loopBacking{}, false
	}
	defer f.Close()
	info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
	if err != nil {
		return loopBacking{}, false
	}
	// A backing block device shows up with its node's inode on devtmpfs,
	// which the sysfs path already resolved to the device itself.
	return loopBacking{dev: devNum(info.Device), ino: info.Inode}, true
}

// heldHolders records, for each device stacked on d that no mount or swap
// accounts for, whether something else holds it exclusively (LVM, a
// second loop in use, an md array): opening it O_EXCL then fails with
// EBUSY. Writing under such a device corrupts what it serves.
func (p *sysProbe) heldHolders(d *Device, busy map[DevNum]string) {
	for num, label := range busy {
		if num == d.Num || !strings.Contains(label, " (") {
			continue // the drive itself and its partitions: checked when opened
		}
		name, _ := splitLabel(label)
		f, err := os.OpenFile(filepath.Join(p.o.DevRoot, name), os.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
		if err == nil {
			f.Close()
			continue
		}
		if errors.Is(err, unix.EBUSY) && !p.accounted(d, name) {
			d.HeldBy = append(d.HeldBy, label)
		}
	}
	sort.Strings(d.HeldBy)
}

// accounted reports whether a mount or a swap of d already names the
// stacked device name (which then holds it: no need to say so twice).
func (p *sysProbe) accounted(d *Device, name string) bool {
	for _, m := range d.Mounts {
		if m.Device == name {
			return true
		}
	}
	for _, s := range d.Swaps {
		if strings.Contains(s, " on "+name+" ") {
			return true
		}
	}
	return false
}

// fileLoops returns the loop devices backed by the regular file at path,
// each probed like a drive (mounts, swaps, holders): a file under an
// attached loop device must not be rewritten while the loop is in use.
func fileLoops(path string, o ProbeOptions) ([]*Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	p, err := newSysProbe(o)
	if err != nil {
		return nil, err
	}
	dev, ino := devNum(st.Dev), st.Ino
	var out []*Device
	for _, l := range p.loopsOn(func(b loopBacking) bool { return !b.isDev && b.dev == dev && b.ino == ino }) {
		d, err := p.device(l)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// classifyTransport reads the bus from the resolved sysfs paths: the
// device link of a USB stick runs through .../usbN/..., an SD card through
// .../mmc_host/..., and so on.
func classifyTransport(name, blockPath, devLink string) Transport {
	path := blockPath + " " + devLink
	switch {
	case strings.HasPrefix(name, "loop"):
		return TransportLoop
	case strings.Contains(path, "/usb"):
		return TransportUSB
	case strings.HasPrefix(name, "mmcblk") || strings.Contains(path, "/mmc_host/") || strings.Contains(path, "/mmc"):
		return TransportMMC
	case strings.HasPrefix(name, "nvme") || strings.Contains(path, "/nvme"):
		return TransportNVMe
	case strings.Contains(path, "/ata"):
		return TransportSATA
	case strings.Contains(blockPath, "/virtual/") || strings.Contains(path, "/virtio") || strings.Contains(path, "/xen"):
		return TransportVirtual
	case strings.Contains(path, "/host"):
		return TransportSCSI
	}
	return TransportOther
}

// walkUpFor looks for attr in dir and its parents up to sysRoot.
func walkUpFor(dir, attr, sysRoot string) string {
	root := resolve(sysRoot)
	for i := 0; i < maxSerialWalk && dir != "" && dir != "/" && dir != root; i++ {
		if v := readTrim(filepath.Join(dir, attr)); v != "" {
			return v
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

func sourceDevices(path string, o ProbeOptions) ([]DevNum, error) {
	below, err := devicesBelow(path, o)
	var out []DevNum
	for _, d := range below {
		if d.Disk {
			out = append(out, d.Dev)
		}
	}
	return out, err
}

// devicesBelow walks from the device of the file system holding path (a
// block device path: that device) down to the drives under it: a
// partition to its disk, a stacked device (device-mapper, md) to its
// slaves, a loop device to the device holding its backing file.
func devicesBelow(path string, o ProbeOptions) ([]StackDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	start := devNum(st.Dev)
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		start = devNum(st.Rdev)
	}
	seen := map[DevNum]bool{}
	var out []StackDevice
	var walk func(n DevNum, depth int)
	walk = func(n DevNum, depth int) {
		if depth >= maxStackDepth || seen[n] {
			return
		}
		seen[n] = true
		i := len(out)
		out = append(out, StackDevice{Dev: n})
		dir := resolve(filepath.Join(o.SysRoot, "dev", "block", n.String()))
		if dir == "" {
			return // tmpfs, overlay, nfs: no block device behind it
		}
		if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
			if pn, err := parseDevNum(readTrim(filepath.Join(filepath.Dir(dir), "dev"))); err == nil {
				walk(pn, depth+1)
			}
			return
		}
		out[i].Disk = true
		slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
		for _, s := range slaves {
			if sn, err := parseDevNum(readTrim(filepath.Join(o.SysRoot, "class", "block", s.Name(), "dev"))); err == nil {
				walk(sn, depth+1)
			}
		}
		if bf := readTrim(filepath.Join(dir, "loop", "backing_file")); bf != "" {
			out[i].BackingFile = bf
			var bst unix.Stat_t
			if unix.Stat(bf, &bst) == nil {
				walk(devNum(bst.Dev), depth+1)
			}
		}
	}
	walk(start, 0)
	return out, nil
}

// fileIDOf is the device and inode of fi, as loop devices report their
// backing files.
func fileIDOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: devNum(st.Dev), ino: st.Ino}, true
}

// unmountHint adds nothing on Linux: the message already names the mount
// point, and umount(8) takes it.
func unmountHint(*Device) string { return "" }
