package isotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Boot media for the USB writing tests: a UEFI loader that proves it ran
// by printing a marker on the serial console, FAT EFI images holding it
// (made by mkfs.fat and mtools, independent of the code under test), and
// ISOs that boot by UEFI El Torito with or without a hybrid partition
// table, or that look like Windows installation media.

// GrubMarkerEFI builds an x86_64 UEFI application with grub-mkstandalone
// (package grub-efi-amd64-bin) whose embedded configuration prints marker
// on the serial console and halts. It returns the binary's path.
func GrubMarkerEFI(t testing.TB, dir, marker string) string {
	t.Helper()
	RequireTool(t, "grub-mkstandalone")
	if _, err := os.Stat("/usr/lib/grub/x86_64-efi"); err != nil {
		t.Skip("grub x86_64-efi modules not installed (apt-get install grub-efi-amd64-bin; .ci/run does)")
	}
	cfg := filepath.Join(dir, "grub-marker.cfg")
	must(t, os.WriteFile(cfg, []byte("serial --unit=0 --speed=115200\nterminal_output serial console\necho "+marker+"\nhalt\n"), 0o644))
	out := filepath.Join(dir, "BOOTX64.EFI")
	Run(t, "grub-mkstandalone", "-O", "x86_64-efi", "--install-modules=normal serial echo halt terminal configfile",
		"--modules=", "--fonts=", "--locales=", "--themes=", "-o", out, "boot/grub/grub.cfg="+cfg)
	return out
}

// mtoolsEnv lets mtools work on image files without a configuration.
func mtoolsEnv() []string {
	return append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", "TZ=UTC")
}

// BuildEFIImage makes a FAT image (an El Torito EFI image such as
// efisys.bin or efi.img) holding loader as EFI/BOOT/<name>.
func BuildEFIImage(t testing.TB, path, loader, name string) {
	t.Helper()
	RequireTool(t, "mkfs.fat", "mmd", "mcopy")
	fi, err := os.Stat(loader)
	must(t, err)
	size := (fi.Size()*11/10 + 2<<20) / (1 << 20) * (1 << 20)
	must(t, os.WriteFile(path, nil, 0o644))
	must(t, os.Truncate(path, size))
	Run(t, "mkfs.fat", "-n", "EFIBOOT", path)
	for _, args := range [][]string{{"mmd", "-i", path, "::/EFI", "::/EFI/BOOT"}, {"mcopy", "-i", path, loader, "::/EFI/BOOT/" + name}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = mtoolsEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// UEFIISO describes an ISO made by BuildUEFIISO.
type UEFIISO struct {
	// Tree is the directory to master (its contents are the ISO's root).
	Tree string
	// EFIImage is the El Torito EFI image, placed at boot/efi.img.
	EFIImage string
	// Hybrid adds a GPT (the EFI image as an appended partition,
	// xorriso -appended_part_as_gpt), the layout Linux distributions use,
	// which boots when copied raw.
	Hybrid bool
	// Label is the volume ID.
	Label string
}

// BuildUEFIISO masters o.Tree with xorriso into a UEFI-bootable ISO
// (El Torito platform 0xEF, no emulation) and returns its path.
func BuildUEFIISO(t testing.TB, out string, o UEFIISO) string {
	t.Helper()
	RequireTool(t, "xorriso")
	boot := filepath.Join(o.Tree, "boot")
	must(t, os.MkdirAll(boot, 0o755))
	data, err := os.ReadFile(o.EFIImage)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(boot, "efi.img"), data, 0o644))
	label := o.Label
	if label == "" {
		label = "UEFI_TEST"
	}
	args := []string{"-as", "mkisofs", "-quiet", "-R", "-J", "-V", label, "-o", out,
		"-e", "boot/efi.img", "-no-emul-boot"}
	if o.Hybrid {
		args = append(args, "-append_partition", "2", "0xef", o.EFIImage, "-appended_part_as_gpt")
	}
	Run(t, "xorriso", append(args, o.Tree)...)
	return out
}

// WindowsLike describes media made by BuildWindowsLikeISO.
type WindowsLike struct {
	// Tree is the directory to master; sources/install.wim and the boot
	// files are expected in it already.
	Tree string
	// EFIImage is the El Torito UEFI image, placed at
	// efi/microsoft/boot/efisys.bin as on Windows media.
	EFIImage string
	Label    string
}

// BuildWindowsLikeISO masters a tree as Windows installation media are
// laid out: ISO 9660 + Joliet + UDF with files over 4 GiB recorded whole
// only in UDF (genisoimage -udf -allow-limited-size), no partition table,
// a UEFI El Torito entry. It returns the image path.
func BuildWindowsLikeISO(t testing.TB, out string, o WindowsLike) string {
	t.Helper()
	RequireTool(t, "genisoimage")
	dir := filepath.Join(o.Tree, "efi", "microsoft", "boot")
	must(t, os.MkdirAll(dir, 0o755))
	data, err := os.ReadFile(o.EFIImage)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "efisys.bin"), data, 0o644))
	label := o.Label
	if label == "" {
		label = "CCCOMA_X64FRE_EN-US_DV9"
	}
	// A BIOS entry (etfsboot.com, as Windows media have) and the UEFI one.
	etfs := filepath.Join(o.Tree, "boot", "etfsboot.com")
	if _, err := os.Stat(etfs); err != nil {
		must(t, os.MkdirAll(filepath.Dir(etfs), 0o755))
		must(t, os.WriteFile(etfs, make([]byte, 4096), 0o644))
	}
	Run(t, "genisoimage", "-quiet", "-udf", "-allow-limited-size", "-iso-level", "3", "-J", "-joliet-long",
		"-V", label, "-b", "boot/etfsboot.com", "-no-emul-boot", "-boot-load-size", "8",
		"-eltorito-alt-boot", "-e", "efi/microsoft/boot/efisys.bin", "-no-emul-boot",
		"-o", out, o.Tree)
	return out
}

// WriteFiles writes each name (slash path below dir) with its content.
func WriteFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
	}
}
