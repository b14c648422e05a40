package main

// The USB part of `isofsd info`: how the image boots from a USB drive,
// its UEFI architectures and its Windows editions (package usbboot).

import (
	"fmt"
	"io"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/usbboot"
)

// inspectUSB looks at the richest tree whatever --tree selected: Windows
// media show their files only in UDF.
func inspectUSB(img *isofmt.Image) *usbboot.Report {
	if rich, err := img.WithTree(""); err == nil {
		img = rich
	}
	return usbboot.Inspect(img)
}

// writeUSBInfo prints the USB section. Strings from the image (paths,
// edition names) are quoted: they may hold terminal escapes.
func writeUSBInfo(w io.Writer, r *usbboot.Report) {
	if r == nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-22s %s\n", "USB:", r.Verdict)
	fmt.Fprintf(w, "  %s\n", r.Reason)
	if r.Verdict == usbboot.NeedsFileCopy {
		fmt.Fprintf(w, "  (isofsd write --mode auto or files makes such a drive)\n")
	}
	if len(r.Archs) > 0 {
		fmt.Fprintf(w, "%-22s %s\n", "Boot architectures:", strings.Join(r.Archs, ", "))
	} else {
		fmt.Fprintf(w, "%-22s %s\n", "Boot architectures:", "none found (no UEFI loaders)")
	}
	for _, e := range r.EFI {
		where := "tree"
		if e.InBootImage {
			where = "El Torito EFI image"
		}
		arch := e.Arch
		if e.Err != "" {
			arch = "unreadable: " + e.Err
		}
		fmt.Fprintf(w, "  %-8s %q (%s, %s)\n", arch, e.Path, where, humanBytes(e.Size))
	}
	if win := r.Windows; win != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Windows editions in %q (%s)\n", win.WIM, humanBytes(win.Size))
		if win.Err != "" {
			fmt.Fprintf(w, "  cannot read them: %s\n", win.Err)
		}
		for _, e := range win.Editions {
			langs := strings.Join(e.Languages, " ")
			fmt.Fprintf(w, "  %d. %q  edition %q, %s, build %s, languages %q\n", e.Index, e.Name, e.Edition(), orDash(e.Arch), orDash(e.Version), langs)
		}
	}
}
