//go:build linux

package mounter

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxHolderFDs caps the descriptors looked at per process: a server with
// a million open sockets should not make an unmount error slow.
const maxHolderFDs = 1 << 16

// Holders lists the processes whose working directory, root directory,
// executable, open files or memory mappings are on the mount mi. It
// identifies them by mount ID (fdinfo's mnt_id) and device number
// (/proc/PID/maps), so it opens nothing on the mount itself: the caller
// may be the process serving it. It sees what /proc lets the caller see
// (every process for root, its own otherwise).
func Holders(mi MountInfo) []Holder {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []Holder
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		var uses []string
		for _, link := range []string{"cwd", "root", "exe"} {
			if onMount(fmt.Sprintf("/proc/%d/%s", pid, link), mi.ID) {
				uses = append(uses, link)
			}
		}
		if openOnMount(pid, mi.ID) {
			uses = append(uses, "open file")
		}
		if mappedOnMount(pid, mi.Major, mi.Minor) {
			uses = append(uses, "mapped file")
		}
		if len(uses) == 0 {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		out = append(out, Holder{PID: pid, Comm: strings.TrimSpace(string(comm)), Uses: uses})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// onMount reports whether the magic link p (/proc/PID/cwd, …) leads onto
// the mount with ID id: an O_PATH open reaches the object without asking
// its file system anything, and fdinfo names the descriptor's mount.
func onMount(p string, id int) bool {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	m, ok := fdMountID(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	return ok && m == id
}

// openOnMount reports whether one of pid's descriptors is on mount id.
func openOnMount(pid, id int) bool {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	d, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer d.Close()
	names, _ := d.Readdirnames(maxHolderFDs)
	for _, n := range names {
		if m, ok := fdMountID(filepath.Join(dir, n)); ok && m == id {
			return true
		}
	}
	return false
}

// fdMountID reads mnt_id from an fdinfo file.
func fdMountID(p string) (int, bool) {
	f, err := os.Open(p)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "mnt_id:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

// mappedOnMount reports whether pid maps a file of device major:minor.
func mappedOnMount(pid int, major, minor uint32) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf("%02x:%02x", major, minor)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && fields[3] == want {
			return true
		}
	}
	return false
}
