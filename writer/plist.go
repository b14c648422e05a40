package writer

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file decodes the XML property lists `diskutil ... -plist` prints on
// macOS. It is platform-neutral so that it is tested everywhere.

// maxPlistDepth caps nesting; diskutil output is four or five levels deep.
const maxPlistDepth = 32

// parsePlist decodes an XML plist into map[string]any, []any, string,
// int64, float64 and bool values.
func parsePlist(r io.Reader) (any, error) {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("plist: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("plist: root element <%s>", se.Name.Local)
			}
			v, _, err := plistValue(d, 0)
			return v, err
		}
	}
}

// plistValue reads the next value element; end is true at the parent's
// closing tag.
func plistValue(d *xml.Decoder, depth int) (v any, end bool, err error) {
	if depth > maxPlistDepth {
		return nil, false, errors.New("plist: nested too deeply")
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, fmt.Errorf("plist: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil, true, nil
		case xml.StartElement:
			switch t.Name.Local {
			case "dict":
				m := map[string]any{}
				for {
					k, end, err := plistValue(d, depth+1)
					if err != nil {
						return nil, false, err
					}
					if end {
						return m, false, nil
					}
					key, ok := k.(plistKey)
					if !ok {
						return nil, false, errors.New("plist: dict entry without <key>")
					}
					val, end, err := plistValue(d, depth+1)
					if err != nil {
						return nil, false, err
					}
					if end {
						return nil, false, fmt.Errorf("plist: key %q without a value", key)
					}
					m[string(key)] = val
				}
			case "array":
				var a []any
				for {
					val, end, err := plistValue(d, depth+1)
					if err != nil {
						return nil, false, err
					}
					if end {
						return a, false, nil
					}
					a = append(a, val)
				}
			case "true", "false":
				if err := d.Skip(); err != nil {
					return nil, false, err
				}
				return t.Name.Local == "true", false, nil
			}
			var s string
			if err := d.DecodeElement(&s, &t); err != nil {
				return nil, false, fmt.Errorf("plist: <%s>: %w", t.Name.Local, err)
			}
			s = strings.TrimSpace(s)
			switch t.Name.Local {
			case "key":
				return plistKey(s), false, nil
			case "string", "date", "data":
				return s, false, nil
			case "integer":
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, false, fmt.Errorf("plist: integer %q", s)
				}
				return n, false, nil
			case "real":
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, false, fmt.Errorf("plist: real %q", s)
				}
				return f, false, nil
			}
			return nil, false, fmt.Errorf("plist: unknown element <%s>", t.Name.Local)
		}
	}
}

type plistKey string

// Typed accessors: a missing key or a different type gives the zero value.
func plistString(m map[string]any, k string) string { s, _ := m[k].(string); return s }
func plistInt(m map[string]any, k string) int64     { n, _ := m[k].(int64); return n }
func plistBool(m map[string]any, k string) bool     { b, _ := m[k].(bool); return b }
func plistDict(v any) map[string]any                { m, _ := v.(map[string]any); return m }
func plistDicts(m map[string]any, k string) []map[string]any {
	a, _ := m[k].([]any)
	var out []map[string]any
	for _, v := range a {
		if d := plistDict(v); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// diskutilTransport maps diskutil's BusProtocol to a Transport. Disk
// images attached by hdiutil are file-backed, like Linux loop devices.
func diskutilTransport(bus string) Transport {
	switch strings.ToLower(bus) {
	case "usb":
		return TransportUSB
	case "secure digital", "sd":
		return TransportMMC
	case "sata", "ata":
		return TransportSATA
	case "pci-express", "pci", "nvme", "apple fabric":
		return TransportNVMe
	case "disk image":
		return TransportLoop
	case "sas", "scsi", "fibre channel interface":
		return TransportSCSI
	case "virtual interface":
		return TransportVirtual
	}
	return TransportOther
}

// diskutilMounts returns, for every whole disk in a `diskutil list -plist`
// document, the mounts on it: its own partitions' mount points and the
// volumes of APFS containers whose physical store is one of its partitions.
func diskutilMounts(list map[string]any) map[string][]Mount {
	out := map[string][]Mount{}
	partOf := map[string]string{} // partition → whole disk
	all := plistDicts(list, "AllDisksAndPartitions")
	for _, d := range all {
		whole := plistString(d, "DeviceIdentifier")
		partOf[whole] = whole
		if mp := plistString(d, "MountPoint"); mp != "" {
			out[whole] = append(out[whole], Mount{Device: whole, MountPoint: mp, FSType: plistString(d, "Content")})
		}
		for _, p := range plistDicts(d, "Partitions") {
			id := plistString(p, "DeviceIdentifier")
			partOf[id] = whole
			if mp := plistString(p, "MountPoint"); mp != "" {
				out[whole] = append(out[whole], Mount{Device: id, MountPoint: mp, FSType: plistString(p, "Content")})
			}
		}
	}
	for _, d := range all {
		stores := plistDicts(d, "APFSPhysicalStores")
		if len(stores) == 0 {
			continue
		}
		// The container's volumes count against the container itself and
		// against every physical disk it is built on.
		container := plistString(d, "DeviceIdentifier")
		for _, v := range plistDicts(d, "APFSVolumes") {
			if mp := plistString(v, "MountPoint"); mp != "" {
				out[container] = append(out[container], Mount{Device: plistString(v, "DeviceIdentifier"), MountPoint: mp, FSType: "apfs"})
			}
		}
		for _, s := range stores {
			whole := partOf[plistString(s, "DeviceIdentifier")]
			if whole == "" {
				continue
			}
			for _, v := range plistDicts(d, "APFSVolumes") {
				if mp := plistString(v, "MountPoint"); mp != "" {
					out[whole] = append(out[whole], Mount{Device: plistString(v, "DeviceIdentifier"), MountPoint: mp, FSType: "apfs"})
				}
			}
		}
	}
	return out
}

// applyDiskutilInfo fills d from a `diskutil info -plist` document.
func applyDiskutilInfo(d *Device, info map[string]any) {
	d.Size = plistInt(info, "TotalSize")
	if d.Size == 0 {
		d.Size = plistInt(info, "Size")
	}
	d.LogicalBlockSize = int(plistInt(info, "DeviceBlockSize"))
	if d.LogicalBlockSize <= 0 {
		d.LogicalBlockSize = 512
	}
	d.Model = strings.TrimSpace(strings.TrimSuffix(plistString(info, "MediaName"), " Media"))
	if d.Model == "" {
		d.Model = plistString(info, "IORegistryEntryName")
	}
	d.Transport = diskutilTransport(plistString(info, "BusProtocol"))
	d.Removable = plistBool(info, "RemovableMedia") || plistBool(info, "Removable")
	if _, ok := info["WritableMedia"]; ok {
		d.ReadOnly = !plistBool(info, "WritableMedia")
	}
	if node := plistString(info, "DeviceNode"); node != "" {
		d.Path = node
	}
}
