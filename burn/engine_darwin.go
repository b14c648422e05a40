package burn

import "fmt"

// EngineNames lists the engines this platform offers.
func EngineNames() []string { return []string{"hdiutil"} }

// NewEngine returns the macOS engine: drutil and hdiutil, both part of
// macOS.
func NewEngine(name string) (Engine, error) {
	switch name {
	case "", "auto", "hdiutil":
		return NewDarwin(), nil
	}
	return nil, fmt.Errorf("burn: unknown engine %q (macOS offers hdiutil)", name)
}
