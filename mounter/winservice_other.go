//go:build !windows

package mounter

import (
	"context"
	"errors"
)

// errWindowsOnly is what the Windows service and registry calls return
// elsewhere.
var errWindowsOnly = errors.New("the Windows service and Explorer verbs exist only on Windows")

// IsWindowsService is false off Windows.
func IsWindowsService() bool { return false }

// RunAsService fails off Windows.
func RunAsService(name string, run func(ctx context.Context, ready func()) error) error {
	return errWindowsOnly
}

// InstallService fails off Windows.
func InstallService(s WindowsService) error { return errWindowsOnly }

// RemoveService fails off Windows.
func RemoveService(name string) (bool, error) { return false, errWindowsOnly }

// WriteRegistry fails off Windows.
func WriteRegistry(values []RegistryValue) error { return errWindowsOnly }

// DeleteRegistryKeys fails off Windows.
func DeleteRegistryKeys(keys []string) ([]string, error) { return nil, errWindowsOnly }
