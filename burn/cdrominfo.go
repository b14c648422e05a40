package burn

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CDROMInfo is one drive's column of the kernel's /proc/sys/dev/cdrom/info
// table (drivers/cdrom/cdrom.c): its name and capability flags.
type CDROMInfo struct {
	Name string
	// Caps maps each row ("Can write CD-R", "Can read DVD", ...) to the
	// drive's value.
	Caps map[string]bool
	// Speed is the "drive speed" row (the kernel's x-speed figure).
	Speed int
}

// maxCDROMRows caps the rows read: the kernel prints about twenty.
const maxCDROMRows = 256

// ParseCDROMInfo reads /proc/sys/dev/cdrom/info: a "drive name:" row
// naming one column per drive (most recently registered first), then one
// row per capability with a 0/1 per column, tab-separated:
//
//	drive name:		sr1	sr0
//	Can write CD-R:		0	1
func ParseCDROMInfo(text string) []CDROMInfo {
	var out []CDROMInfo
	rows := 0
	for _, l := range lines(text) {
		key, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		key = strings.Join(strings.Fields(key), " ")
		vals := strings.Fields(val)
		if key == "drive name" {
			out = out[:0]
			for _, n := range vals {
				if len(out) >= maxDrives {
					break
				}
				out = append(out, CDROMInfo{Name: n, Caps: map[string]bool{}})
			}
			continue
		}
		if out == nil || rows >= maxCDROMRows {
			continue
		}
		rows++
		for i := 0; i < len(vals) && i < len(out); i++ {
			if key == "drive speed" {
				if n, ok := atoi64(vals[i]); ok && n < 1000 {
					out[i].Speed = int(n)
				}
				continue
			}
			out[i].Caps[key] = vals[i] == "1"
		}
	}
	return out
}

// Writes lists the media families the drive says it writes. The kernel
// knows CD-R, CD-RW, DVD-R (covering DVD±R) and DVD-RAM; BD is not in its
// table.
func (c CDROMInfo) Writes() []string {
	var w []string
	for _, k := range []string{"CD-R", "CD-RW", "DVD-R", "DVD-RAM"} {
		if c.Caps["Can write "+k] {
			w = append(w, k)
		}
	}
	return w
}

// SystemDrives lists the optical drives the kernel knows: the SCSI
// CD-ROM class devices under sysRoot/block (srN, whose device/type is 5),
// with vendor, model and revision from the INQUIRY strings sysfs keeps,
// and what each can write from the cdrom info table at infoPath.
func SystemDrives(sysRoot, devRoot, infoPath string) ([]*Drive, error) {
	ents, err := os.ReadDir(filepath.Join(sysRoot, "block"))
	if err != nil {
		return nil, err
	}
	infos := map[string]CDROMInfo{}
	if b, err := readSmall(infoPath, 64<<10); err == nil {
		for _, c := range ParseCDROMInfo(string(b)) {
			infos[c.Name] = c
		}
	}
	var out []*Drive
	for _, e := range ents {
		name := e.Name()
		dir := filepath.Join(sysRoot, "block", name)
		typ := sysfsAttr(filepath.Join(dir, "device", "type"))
		if typ != "5" && !(typ == "" && strings.HasPrefix(name, "sr")) {
			continue // 5 is TYPE_ROM, the SCSI type of every optical drive
		}
		d := &Drive{
			Path:     filepath.Join(devRoot, name),
			Vendor:   cleanID(sysfsAttr(filepath.Join(dir, "device", "vendor"))),
			Model:    cleanID(sysfsAttr(filepath.Join(dir, "device", "model"))),
			Revision: cleanID(sysfsAttr(filepath.Join(dir, "device", "rev"))),
		}
		d.Device = d.Path
		if c, ok := infos[name]; ok {
			d.Writes = c.Writes()
		}
		if len(out) < maxDrives {
			out = append(out, d)
		}
	}
	return out, nil
}

// sysfsAttr reads a small sysfs attribute, "" when absent.
func sysfsAttr(path string) string {
	b, err := readSmall(path, 4096)
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(b), "\n")
}

// readSmall reads at most limit bytes of path.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
