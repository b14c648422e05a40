// Package burn writes an image to an optical disc (CD, DVD, BD) and proves
// that the disc reads back exactly. It is the engine behind `isofsd drives`
// and `isofsd burn`.
//
// The writing itself is left to the burn engine each operating system
// provides and that has been proven on real drives for years — a home-made
// MMC stack could not be tested here:
//
//   - Linux (and other systems libburn supports): libburn, through
//     `xorriso -as cdrecord` or `cdrskin`. Its stdio: pseudo-drives (a file
//     or block device posing as a drive) let the whole path run in tests.
//   - macOS: `drutil` for drives, media and eject, `hdiutil burn` to write.
//   - Windows: IMAPI2, the COM burning API built into Windows.
//
// What isofsd owns is everything around the engine: finding drives and
// reading the state of their media, the safety rules (see Assess: no
// non-blank write-once media, no erasing without Blank, no media smaller
// than the image, no drive in use), turning the engine's progress output
// into Progress updates and its failures into errors that say what went
// wrong, and verification: the disc is read back over exactly the image's
// length and compared with the image (SHA-256, and the isomd5sum checksum
// implanted in the image, with checkisomd5's verdict), and bad sectors are
// named by the files they hit.
//
// Every parser here reads text another program printed; each is written
// to accept any input without panicking or allocating without bound, and
// has fuzz targets.
//
// The package does not log: messages go back to the caller as values and
// through the callbacks in Options.
package burn
