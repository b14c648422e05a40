//go:build !linux

package burn

// driveBusy: outside Linux the engine itself refuses a drive in use
// (hdiutil unmounts the disc first; IMAPI2 takes exclusive access).
func driveBusy(string) string { return "" }

// systemDrives: outside Linux the engine lists the drives.
func systemDrives() ([]*Drive, error) { return nil, nil }
