// Package wim reads Windows Imaging (WIM) files — the header, the blob
// table (Microsoft's "lookup table") and the XML that describes each image
// — and splits a WIM into a spanned set (install.swm, install2.swm, …), the
// layout Windows Setup reads from FAT32 media where no file may reach
// 4 GiB.
//
// A split copies every resource verbatim (compressed chunks are position
// independent, so nothing is decompressed or recompressed) and writes for
// each part a header with the original GUID, its own part number and the
// total, a blob table listing the resources of that part, and the original
// XML, as wimlib-imagex split and DISM /Split-Image do: metadata resources
// go to part 1, file resources follow in the order they have in the
// original. Parts are produced as sequential readers, so that a caller can
// stream them onto a device without a temporary copy.
//
// The package reads untrusted bytes (a WIM inside a downloaded ISO): every
// offset is checked against the file size, counts are capped by named
// constants, nothing is allocated from a size the file merely claims, and
// errors name the structure and its byte offset, wrapping ErrNotWIM,
// ErrCorrupt or ErrUnsupported.
package wim
