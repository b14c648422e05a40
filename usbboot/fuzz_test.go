package usbboot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FuzzPEHeader reads arbitrary bytes as a PE image. Seeds: the headers of
// every machine type and, when grub-mkstandalone is installed, the head
// of a real x86_64 EFI binary.
func FuzzPEHeader(f *testing.F) {
	for _, m := range []uint16{MachineAMD64, MachineI386, MachineARM64, MachineARMThumb2} {
		f.Add(fakePE(m, m != MachineI386 && m != MachineARMThumb2, 10))
	}
	if _, err := exec.LookPath("grub-mkstandalone"); err == nil {
		dir := f.TempDir()
		cfg := filepath.Join(dir, "g.cfg")
		os.WriteFile(cfg, []byte("halt\n"), 0o644)
		out := filepath.Join(dir, "x64.efi")
		if exec.Command("grub-mkstandalone", "-O", "x86_64-efi", "--install-modules=halt", "--modules=", "--fonts=", "--locales=", "--themes=",
			"-o", out, "boot/grub/grub.cfg="+cfg).Run() == nil {
			if b, err := os.ReadFile(out); err == nil {
				f.Add(b[:min(len(b), 4096)])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadPEHeader(bytes.NewReader(b))
		if err == nil && h.Arch == "" {
			t.Fatal("accepted without an architecture")
		}
	})
}
