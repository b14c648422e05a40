package usbboot

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/wim"
)

// Verdict is how the image can be put on a USB drive.
type Verdict string

// Verdicts, worded as `isofsd info` prints them after "USB: ".
const (
	RawCopyBoots  Verdict = "raw copy boots"
	NeedsFileCopy Verdict = "needs file-copy mode"
	NotBootable   Verdict = "not bootable"
)

// EFIBinary is one UEFI boot loader found.
type EFIBinary struct {
	// Path is the file's path in the tree, or inside the El Torito image.
	Path string `json:"path"`
	// InBootImage is set for loaders read from the El Torito EFI image.
	InBootImage bool   `json:"in_boot_image,omitempty"`
	Arch        string `json:"arch"`
	Size        int64  `json:"size"`
	// Err says why the PE header could not be read.
	Err string `json:"error,omitempty"`
}

// Windows describes Windows installation media.
type Windows struct {
	// WIM is the path of install.wim or install.esd in the tree.
	WIM      string      `json:"wim"`
	Size     int64       `json:"size"`
	Editions []wim.Image `json:"editions,omitempty"`
	// Err says why the editions could not be read.
	Err string `json:"error,omitempty"`
}

// Report is what Inspect found.
type Report struct {
	Verdict Verdict `json:"verdict"`
	// Reason explains the verdict in one sentence.
	Reason string `json:"reason"`
	// Hybrid reports an MBR or GPT in the system area (isohybrid).
	Hybrid bool `json:"hybrid"`
	// UEFIBootEntry reports an El Torito entry for the UEFI platform.
	UEFIBootEntry bool `json:"uefi_boot_entry"`
	// BIOSBootEntry reports an El Torito entry for BIOS.
	BIOSBootEntry bool        `json:"bios_boot_entry"`
	EFI           []EFIBinary `json:"efi,omitempty"`
	// Archs are the distinct architectures of the loaders that read.
	Archs   []string `json:"archs,omitempty"`
	Windows *Windows `json:"windows,omitempty"`
	// TreeHasEFIBoot reports /EFI/BOOT/BOOT*.EFI in the selected tree,
	// which is what a file-copy stick boots from.
	TreeHasEFIBoot bool     `json:"tree_has_efi_boot"`
	Warnings       []string `json:"warnings,omitempty"`
}

// maxDirEntries bounds the directory listings Inspect looks through.
const maxDirEntries = 4096

// Inspect looks at an opened image (its selected tree, its boot catalog
// and system area).
func Inspect(img *isofmt.Image) *Report {
	r := &Report{}
	in := img.Info()
	if sa := in.SystemArea; sa != nil && (sa.MBR != nil || sa.GPT != nil) {
		r.Hybrid = true
	}
	if b := in.Boot; b != nil {
		for _, e := range b.Entries {
			switch e.Platform {
			case "uefi":
				r.UEFIBootEntry = true
				r.efiFromBootImage(img, e)
			case "bios":
				r.BIOSBootEntry = true
			}
		}
	}
	r.efiFromTree(img)
	r.windows(img)
	seen := map[string]bool{}
	for _, e := range r.EFI {
		if e.Err == "" && !seen[e.Arch] {
			seen[e.Arch] = true
			r.Archs = append(r.Archs, e.Arch)
		}
	}
	sort.Strings(r.Archs)
	r.decide()
	return r
}

func (r *Report) decide() {
	switch {
	case r.Hybrid:
		r.Verdict, r.Reason = RawCopyBoots, "the image carries a partition table in its system area (isohybrid): written as it is, it boots as a disk"
	case r.Windows != nil:
		r.Verdict, r.Reason = NeedsFileCopy, "Windows installation media without a partition table: firmware boots them from a FAT32 partition holding their files, not from a raw copy"
	case r.TreeHasEFIBoot || r.UEFIBootEntry && len(r.EFI) > 0:
		r.Verdict, r.Reason = NeedsFileCopy, "UEFI boot files but no partition table: firmware boots them from a FAT32 partition holding the files, not from a raw copy"
	case r.BIOSBootEntry:
		r.Verdict, r.Reason = NotBootable, "it boots by BIOS El Torito only, which firmware offers for optical media, not USB drives"
	default:
		r.Verdict, r.Reason = NotBootable, "no partition table and no UEFI boot files"
	}
}

// efiFromTree reads /EFI/BOOT/BOOT*.EFI of the selected tree.
func (r *Report) efiFromTree(img *isofmt.Image) {
	dir, ok := findDir(img, "efi", "boot")
	if !ok {
		return
	}
	ents, err := fs.ReadDir(img, dir)
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %v", dir, err))
		return
	}
	for i, e := range ents {
		if i >= maxDirEntries {
			break
		}
		name := strings.TrimSuffix(e.Name(), ";1")
		if e.IsDir() || !isBootFile(name) {
			continue
		}
		p := dir + "/" + e.Name()
		b := EFIBinary{Path: p}
		f, err := img.Open(p)
		if err == nil {
			if fi, err := f.Stat(); err == nil {
				b.Size = fi.Size()
			}
			if ra, ok := f.(io.ReaderAt); ok {
				b.read(ra)
			}
			f.Close()
		} else {
			b.Err = err.Error()
		}
		r.EFI = append(r.EFI, b)
		r.TreeHasEFIBoot = true
	}
}

func isBootFile(name string) bool {
	u := strings.ToUpper(name)
	return strings.HasPrefix(u, "BOOT") && strings.HasSuffix(u, ".EFI")
}

func (b *EFIBinary) read(ra io.ReaderAt) {
	h, err := ReadPEHeader(ra)
	if err != nil {
		b.Err = err.Error()
		return
	}
	b.Arch = h.Arch
}

// efiFromBootImage reads /EFI/BOOT/BOOT*.EFI inside an El Torito EFI
// image (a FAT volume: efisys.bin on Windows media, efi.img elsewhere).
func (r *Report) efiFromBootImage(img *isofmt.Image, e isofmt.BootEntry) {
	bf, err := BootFiles(img, e)
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("El Torito entry %d: %v", e.Index, err))
		return
	}
	for _, f := range bf {
		b := EFIBinary{Path: f.Path, InBootImage: true, Size: int64(f.Entry.Size)}
		b.read(f.Reader)
		r.EFI = append(r.EFI, b)
	}
}

// BootFile is a boot loader inside an El Torito EFI image.
type BootFile struct {
	// Path is its path in the FAT image, e.g. "EFI/BOOT/BOOTX64.EFI".
	Path   string
	Entry  fatfs.Entry
	Reader *fatfs.FileReader
}

// BootFiles lists /EFI/BOOT/BOOT*.EFI in the FAT image of a UEFI El
// Torito entry.
func BootFiles(img *isofmt.Image, e isofmt.BootEntry) ([]BootFile, error) {
	v, err := fatfs.Open(img.BootImage(e), e.Size)
	if err != nil {
		return nil, err
	}
	var out []BootFile
	for _, dir := range []string{"EFI", "EFI/BOOT"} {
		if _, err := fs.Stat(v, dir); err != nil {
			return nil, nil
		}
	}
	ents, err := v.ReadDirEntries("EFI/BOOT", false)
	if err != nil {
		return nil, err
	}
	for i := range ents {
		en := ents[i]
		if i >= maxDirEntries || en.IsDir() || !isBootFile(en.Name) {
			continue
		}
		fr, err := v.OpenEntry(&en)
		if err != nil {
			return nil, fmt.Errorf("EFI/BOOT/%s: %w", en.Name, err)
		}
		out = append(out, BootFile{Path: "EFI/BOOT/" + en.Name, Entry: en, Reader: fr})
	}
	return out, nil
}

// windows recognises Windows installation media and reads the editions.
func (r *Report) windows(img *isofmt.Image) {
	src, ok := findDir(img, "sources")
	if !ok {
		return
	}
	if _, ok := findFile(img, ".", "bootmgr"); !ok {
		return
	}
	var wimPath string
	for _, n := range []string{"install.wim", "install.esd", "install.swm"} {
		if p, ok := findFile(img, src, n); ok {
			wimPath = p
			break
		}
	}
	if wimPath == "" {
		return
	}
	w := &Windows{WIM: wimPath}
	r.Windows = w
	f, err := img.Open(wimPath)
	if err != nil {
		w.Err = err.Error()
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	w.Size = fi.Size()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		w.Err = wimPath + " is not a file"
		return
	}
	wf, err := wim.Open(ra, w.Size)
	if err == nil {
		w.Editions, err = wf.Images()
	}
	if err != nil {
		w.Err = err.Error()
	}
}

// findDir finds a directory path component by component, ignoring case
// (ISO 9660 names are upper case, UDF ones keep the author's case).
func findDir(img fs.FS, components ...string) (string, bool) {
	dir := "."
	for _, c := range components {
		p, ok := findFile(img, dir, c)
		if !ok {
			return "", false
		}
		dir = p
	}
	if dir == "." {
		return "", false
	}
	return dir, true
}

// findFile finds name in dir ignoring case and a ";1" version suffix.
func findFile(img fs.FS, dir, name string) (string, bool) {
	ents, err := fs.ReadDir(img, dir)
	if err != nil {
		return "", false
	}
	for i, e := range ents {
		if i >= maxDirEntries {
			break
		}
		n := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ";1"), ".")
		if strings.EqualFold(n, name) {
			return path.Join(dir, e.Name()), true
		}
	}
	return "", false
}
