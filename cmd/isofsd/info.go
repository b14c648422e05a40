package main

// `isofsd info`: what an image holds — label, sizes, descriptor sets, the
// trees present and the one selected, Rock Ridge extensions, boot entries,
// partition tables, implanted checksum and warnings — for people (text)
// and for scripts (--json, the isofmt.Info struct as is).

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/usbboot"
)

const treeFlagHelp = "directory tree to use: udf, rockridge, joliet or iso9660 (default: the richest present)"

func newInfoCmd(a *app) *cobra.Command {
	var jsonOut bool
	var tree string
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "info IMAGE",
		Short: "Describe an image: label, sizes, trees, boot entries, partitions, checksum, warnings",
		Long: `info prints what an ISO 9660 / UDF image holds: its label and sizes (the
image file against the size its volume descriptor claims), the volume
descriptor sets, every directory tree present and the one selected, the Rock
Ridge extensions announced, El Torito boot entries, MBR/GPT partition tables,
an implanted isomd5sum checksum, UDF details and the warnings noticed while
reading, and how the image boots from a USB drive: the line "USB: raw copy
boots", "USB: needs file-copy mode" (write --mode files) or "USB: not
bootable", the UEFI architectures of its boot loaders (from their PE
headers) and, for Windows media, the editions in install.wim/esd (name,
edition, architecture, build, languages). --json prints the same as one JSON
object for scripts (the USB part under "usb").

Exit status: 0 ok, 1 the image is truncated (damage found), 2 usage or the
image cannot be opened.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], tree)
			if err != nil {
				return err
			}
			defer closeImg()
			in := img.Info()
			usb := inspectUSB(img)
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					*isofmt.Info
					USB *usbboot.Report `json:"usb,omitempty"`
				}{in, usb}); err != nil {
					return err
				}
			} else {
				writeInfo(cmd.OutOrStdout(), args[0], in)
				writeUSBInfo(cmd.OutOrStdout(), usb)
			}
			if in.Truncated {
				return withCode(exitDamaged, fmt.Errorf("%s: truncated: the volume claims %d bytes, the image has %d", args[0], in.VolumeSize, in.ImageSize))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the description as JSON")
	treeVar(cmd.Flags(), &tree, treeFlagHelp)
	addSourceFlags(cmd, &sf)
	return cmd
}

// writeInfo prints the human form of info: "key: value" lines grouped in
// sections, values quoted only where blanks would be ambiguous.
func writeInfo(w io.Writer, name string, in *isofmt.Info) {
	kv := func(k string, format string, args ...any) {
		fmt.Fprintf(w, "%-22s %s\n", k+":", fmt.Sprintf(format, args...))
	}
	kv("Image", "%s", name)
	kv("Volume label", "%q", in.Label())
	kv("Image size", "%s", humanBytes(in.ImageSize))
	if in.VolumeSize > 0 {
		state := ""
		switch {
		case in.Truncated:
			state = fmt.Sprintf("  (TRUNCATED: %s missing)", humanBytes(in.VolumeSize-in.ImageSize))
		case in.ImageSize > in.VolumeSize:
			state = fmt.Sprintf("  (%s beyond the volume)", humanBytes(in.ImageSize-in.VolumeSize))
		}
		kv("Volume size", "%s%s", humanBytes(in.VolumeSize), state)
	}
	kv("Trees", "%s", strings.Join(in.Trees, ", "))
	kv("Selected tree", "%s", in.Tree)
	if len(in.RockRidgeVersion) > 0 || in.RockRidgeAfterXA {
		rr := strings.Join(in.RockRidgeVersion, "; ")
		if in.RockRidgeAfterXA {
			rr = strings.TrimPrefix(rr+"; found after CD-XA system-use fields (read as Linux and 7-Zip do)", "; ")
		}
		kv("Rock Ridge", "%s", rr)
	}
	if p := in.Primary; p != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Primary volume descriptor (sector %d)\n", p.Sector)
		writeVolumeDescriptor(w, p)
	}
	if j := in.Joliet; j != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Joliet volume descriptor (sector %d)\n", j.Sector)
		writeVolumeDescriptor(w, j)
	}
	if e := in.Enhanced; e != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Enhanced volume descriptor (sector %d)\n", e.Sector)
		writeVolumeDescriptor(w, e)
	}
	sets := make([]string, len(in.DescriptorSets))
	for i, s := range in.DescriptorSets {
		sets[i] = fmt.Sprintf("sector %d", s)
	}
	if len(in.Descriptors) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Volume descriptors (sets at %s)\n", strings.Join(sets, ", "))
	}
	for _, d := range in.Descriptors {
		t := d.Type
		if d.JolietLevel > 0 {
			t = fmt.Sprintf("%s level %d", t, d.JolietLevel)
		}
		fmt.Fprintf(w, "  sector %-6d %s\n", d.Sector, t)
	}
	writeInfoExtra(w, in)
	if len(in.Warnings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Warnings (%d)\n", len(in.Warnings))
		for _, s := range in.Warnings {
			fmt.Fprintf(w, "  %s\n", termSafe(s))
		}
	}
}

func writeVolumeDescriptor(w io.Writer, v *isofmt.VolumeDescriptor) {
	kv := func(k, val string) {
		if val != "" {
			fmt.Fprintf(w, "  %-20s %s\n", k+":", val)
		}
	}
	kv("Volume ID", fmt.Sprintf("%q", v.VolumeID))
	// The ids are whatever the image says: termSafe keeps escape
	// sequences and carriage returns off the operator's terminal.
	kv("System ID", termSafe(v.SystemID))
	kv("Volume set ID", termSafe(v.VolumeSetID))
	kv("Publisher", termSafe(v.PublisherID))
	kv("Preparer", termSafe(v.PreparerID))
	kv("Application", termSafe(v.ApplicationID))
	kv("Block size", fmt.Sprint(v.LogicalBlockSize))
	kv("Volume blocks", fmt.Sprint(v.VolumeSpaceSize))
	if !v.CreationTime.IsZero() {
		kv("Created", v.CreationTime.Format("2006-01-02 15:04:05 -07:00"))
	}
	if !v.ModificationTime.IsZero() {
		kv("Modified", v.ModificationTime.Format("2006-01-02 15:04:05 -07:00"))
	}
}

// humanBytes prints an exact byte count with its units.Bytes form.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, units.Bytes(n))
}

// writeInfoExtra prints boot entries, partition tables, the implanted
// checksum and UDF details.
func writeInfoExtra(w io.Writer, in *isofmt.Info) {
	if b := in.Boot; b != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "El Torito boot catalog (sector %d): %d entries\n", b.LBA, len(b.Entries))
		for _, e := range b.Entries {
			where := "default"
			if e.Section > 0 {
				where = fmt.Sprintf("section %d", e.Section)
			}
			boot := "bootable"
			if !e.Bootable {
				boot = "not bootable"
			}
			fmt.Fprintf(w, "  %d. %-5s %-12s %s, %s, emulation %s, load segment 0x%04x, %d virtual sectors\n",
				e.Index, e.Platform, where, boot, termSafe(e.Name), e.Emulation, e.LoadSegment, e.SectorCount)
			fmt.Fprintf(w, "     image at sector %d (byte %d), %s (size from %s)\n", e.LBA, e.Offset, humanBytes(e.Size), e.SizeSource)
		}
	}
	if sa := in.SystemArea; sa != nil {
		fmt.Fprintln(w)
		var schemes []string
		if sa.MBR != nil {
			m := "MBR"
			switch {
			case sa.MBR.Protective:
				m += " (protective)"
			case sa.MBR.Isohdpfx:
				m += " (isohybrid boot code)"
			}
			schemes = append(schemes, m)
		}
		if g := sa.GPT; g != nil {
			crc := "CRCs ok"
			if !g.HeaderCRCOK || !g.EntriesCRCOK {
				crc = fmt.Sprintf("header CRC ok: %v, entries CRC ok: %v", g.HeaderCRCOK, g.EntriesCRCOK)
			}
			backup := "backup header found"
			if !g.BackupFound {
				backup = fmt.Sprintf("NO backup header at byte %d", g.BackupOffset)
			}
			schemes = append(schemes, fmt.Sprintf("GPT (%d-byte sectors, %s, %s)", g.SectorSize, crc, backup))
		}
		if a := sa.APM; a != nil {
			schemes = append(schemes, fmt.Sprintf("Apple partition map (%d-byte blocks)", a.BlockSize))
		}
		hybrid := ""
		if sa.IsoHybrid {
			hybrid = "; isohybrid: bootable as a disk"
		}
		fmt.Fprintf(w, "System area: %s%s\n", strings.Join(schemes, ", "), hybrid)
		for _, p := range sa.Partitions {
			flags := ""
			if p.Bootable {
				flags += " bootable"
			}
			if p.BeyondVolume {
				flags += " beyond-volume"
			}
			name := ""
			if p.Name != "" {
				name = fmt.Sprintf(" %q", p.Name)
			}
			fmt.Fprintf(w, "  %s %d: %s (%s)%s, start byte %d, %s%s\n", p.Scheme, p.Index, p.Type, p.TypeCode, name, p.Start, humanBytes(p.Size), flags)
		}
	}
	fmt.Fprintln(w)
	if m := in.MD5; m != nil {
		fmt.Fprintf(w, "Implanted MD5:         %s (check it with isofsd verify)\n", m)
	} else {
		fmt.Fprintf(w, "Implanted MD5:         none\n")
	}
	if u := in.UDF; u != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "UDF %d.%02x (NSR0%d), %d-byte blocks\n", u.Revision>>8, u.Revision&0xff, u.NSR, u.BlockSize)
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "  %-20s %s\n", k+":", v)
			}
		}
		kv("Volume ID", fmt.Sprintf("%q", u.VolumeID))
		kv("Logical volume", fmt.Sprintf("%q", u.LogicalVolumeID))
		if u.VolumeSetID != "" {
			kv("Volume set", fmt.Sprintf("%q", u.VolumeSetID))
		}
		if u.FileSetID != "" {
			kv("File set", fmt.Sprintf("%q", u.FileSetID))
		}
		kv("Partition", fmt.Sprintf("start byte %d, %s", u.PartitionStart, humanBytes(u.PartitionLength)))
		anchors := make([]string, len(u.Anchors))
		for i, a := range u.Anchors {
			anchors[i] = fmt.Sprint(a)
		}
		kv("Anchors at blocks", strings.Join(anchors, ", "))
		for i, pm := range u.PartitionMaps {
			extra := ""
			switch pm.Type {
			case "sparable":
				extra = fmt.Sprintf(", packet %d blocks, %d remapped", pm.PacketLength, pm.SparingEntries)
			case "virtual":
				extra = fmt.Sprintf(", %d virtual blocks", pm.VATEntries)
			case "metadata":
				extra = fmt.Sprintf(", metadata file at block %d, mirror at %d", pm.MetadataFile, pm.MirrorFile)
				if pm.UsingMirror {
					extra += " (damaged: using the mirror)"
				}
			}
			kv(fmt.Sprintf("Partition map %d", i), fmt.Sprintf("%s, partition %d, start byte %d, %s%s", pm.Type, pm.PartitionNumber, pm.Start, humanBytes(pm.Length), extra))
		}
	}
}
