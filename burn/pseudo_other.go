//go:build !unix

package burn

import "fmt"

// openPseudo: libburn's stdio: pseudo-drives exist only where libburn runs.
func openPseudo(target, image string, create, readOnly bool) (*Drive, []Problem, bool, error) {
	return nil, nil, false, fmt.Errorf("%w: stdio: pseudo-drives need libburn (Linux, BSD)", ErrUnsupported)
}
