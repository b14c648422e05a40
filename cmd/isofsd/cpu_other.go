//go:build !unix

package main

import "time"

// selfCPU is not measured on this system; bench shows wall times only.
func selfCPU() time.Duration { return 0 }
