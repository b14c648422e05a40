//go:build !darwin && !windows

package burn

import (
	"fmt"
	"strings"
)

// EngineNames lists the engines this platform offers, preferred first.
// Both are libburn: xorriso is more widely installed, and unlike cdrskin
// it accepts stdio: pseudo-drives when run as root.
func EngineNames() []string { return []string{"xorriso", "cdrskin"} }

// NewEngine returns the named engine; "" or "auto" picks the first one
// installed.
func NewEngine(name string) (Engine, error) {
	switch name {
	case "", "auto":
		for _, n := range EngineNames() {
			if e, err := NewLibburn(n); err == nil {
				return e, nil
			}
		}
		return nil, fmt.Errorf("%w: install xorriso or cdrskin (Debian/Ubuntu: apt-get install xorriso)", ErrNoEngine)
	case "xorriso", "cdrskin":
		return NewLibburn(name)
	}
	return nil, fmt.Errorf("burn: unknown engine %q (this system offers %s)", name, strings.Join(EngineNames(), ", "))
}
