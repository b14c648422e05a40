//go:build !linux

package burn

// driveBusy: outside Linux the engine itself refuses a drive in use
// (hdiutil unmounts the disc first; IMAPI2 takes exclusive access).
func driveBusy(string) string { return "" }

// systemDrives: outside Linux the engine lists the drives.
func systemDrives() ([]*Drive, error) { return nil, nil }

// checkDrivePath: outside Linux drives are named as the engine names them
// (a drutil number, an IMAPI2 drive letter): the engine says whether it
// knows one.
func checkDrivePath(string) error { return nil }
