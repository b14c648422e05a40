//go:build !unix

package diskio

import "testing"

// makeFIFO: no FIFOs here.
func makeFIFO(*testing.T, string) string { return "" }
