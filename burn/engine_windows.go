package burn

import "fmt"

// EngineNames lists the engines this platform offers.
func EngineNames() []string { return []string{"imapi2"} }

// NewEngine returns the Windows engine, IMAPI2 (part of Windows).
func NewEngine(name string) (Engine, error) {
	switch name {
	case "", "auto", "imapi2":
		return NewIMAPI2(), nil
	}
	return nil, fmt.Errorf("burn: unknown engine %q (Windows offers imapi2)", name)
}
