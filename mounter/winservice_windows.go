//go:build windows

package mounter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// IsWindowsService reports whether the service manager started us.
func IsWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// RunAsService runs run under the service manager: the service is
// reported running once run calls ready (the daemon listens), and a stop
// or shutdown request cancels run's context.
func RunAsService(name string, run func(ctx context.Context, ready func()) error) error {
	return svc.Run(name, &service{run: run})
}

type service struct {
	run func(ctx context.Context, ready func()) error
}

func (s *service) Execute(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	readyCh := make(chan struct{})
	go func() { done <- s.run(ctx, func() { close(readyCh) }) }()
	for {
		select {
		case <-readyCh:
			readyCh = nil
			status <- svc.Status{State: svc.Running, Accepts: accepts}
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				if err := <-done; err != nil {
					return true, 1
				}
				return false, 0
			}
		case err := <-done:
			if err != nil {
				return true, 1
			}
			return false, 0
		}
	}
}

// InstallService registers s, started automatically at boot and
// restarted when it fails.
func InstallService(s WindowsService) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	if old, err := m.OpenService(s.Name); err == nil {
		old.Close()
		return fmt.Errorf("service %s is already installed (service uninstall --windows removes it)", s.Name)
	}
	sv, err := m.CreateService(s.Name, s.Binary, mgr.Config{DisplayName: s.DisplayName, Description: s.Description,
		StartType: mgr.StartAutomatic}, s.Args...)
	if err != nil {
		return fmt.Errorf("service %s: %w", s.Name, err)
	}
	defer sv.Close()
	return sv.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 2 * time.Second}}, 60)
}

// RemoveService stops and deletes the service name (absent: nothing).
func RemoveService(name string) (bool, error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, fmt.Errorf("service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	sv, err := m.OpenService(name)
	if err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return false, nil
		}
		return false, err
	}
	defer sv.Close()
	sv.Control(svc.Stop)
	if err := sv.Delete(); err != nil {
		return false, fmt.Errorf("service %s: %w", name, err)
	}
	return true, nil
}

// WriteRegistry writes the values under HKEY_CURRENT_USER.
func WriteRegistry(values []RegistryValue) error {
	for _, v := range values {
		k, _, err := registry.CreateKey(registry.CURRENT_USER, v.Key, registry.SET_VALUE)
		if err != nil {
			return fmt.Errorf(`HKCU\%s: %w`, v.Key, err)
		}
		err = k.SetStringValue(v.Name, v.Value)
		k.Close()
		if err != nil {
			return fmt.Errorf(`HKCU\%s: %w`, v.Key, err)
		}
	}
	return nil
}

// DeleteRegistryKeys deletes the keys (deepest first) under
// HKEY_CURRENT_USER and returns those that existed.
func DeleteRegistryKeys(keys []string) ([]string, error) {
	var deleted []string
	for _, key := range keys {
		err := registry.DeleteKey(registry.CURRENT_USER, key)
		if errors.Is(err, registry.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf(`HKCU\%s: %w`, key, err)
		}
		deleted = append(deleted, key)
	}
	return deleted, nil
}
