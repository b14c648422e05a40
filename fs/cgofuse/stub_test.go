//go:build !cgofuse && !windows

package cgofuse

import (
	"errors"
	"strings"
	"testing"
)

// TestStub: builds without the backend say so, and how to get it.
func TestStub(t *testing.T) {
	if Available {
		t.Fatal("stub claims the backend is available")
	}
	_, err := Mount("/mnt", nil, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "-tags cgofuse") {
		t.Errorf("Mount: %v", err)
	}
}
