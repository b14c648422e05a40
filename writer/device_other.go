//go:build !linux && !darwin && !windows

package writer

import (
	"fmt"
	"os"
)

// Platforms without a device probe can still write image files.

func listDevices(ProbeOptions) ([]*Device, error) { return nil, ErrUnsupported }

func lookupDevice(path string, _ ProbeOptions) (*Device, error) {
	return nil, fmt.Errorf("%s: %w", path, ErrUnsupported)
}

func sourceDevices(string, ProbeOptions) ([]DevNum, error) { return nil, ErrUnsupported }

func devicesBelow(string, ProbeOptions) ([]StackDevice, error) { return nil, ErrUnsupported }

func unmountHint(*Device) string { return "" }

const rawCharDevices = false

func openDevice(path string) (*osSink, DevNum, int64, error) {
	return nil, DevNum{}, 0, fmt.Errorf("%s: %w", path, ErrUnsupported)
}

func openFile(path string) (*osSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osSink{f: f, lbs: 4096}, nil
}

func (s *osSink) Sync() error { return s.f.Sync() }
func (s *osSink) DropCache()  {}

// fileLoops: no loop devices to find here (macOS disk images attached
// with hdiutil are drives of their own and are probed as such).
func fileLoops(string, ProbeOptions) ([]*Device, error) { return nil, nil }

// buffered: raw drives here cannot drop their alignment rules.
func (s *osSink) buffered() error { return nil }

// fileIDOf: loop devices, whose backing files it matches, are Linux's.
func fileIDOf(os.FileInfo) (fileID, bool) { return fileID{}, false }
