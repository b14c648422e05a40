package mounter

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/isofsd/isofsd/internal/safetext"
)

// Holder is a process that keeps a mount busy, as `fuser -m` reports it.
type Holder struct {
	PID int
	// Comm is the process's name as the kernel keeps it: any process,
	// another user's included, sets its own (prctl PR_SET_NAME, writing
	// /proc/self/comm), escape sequences and all.
	Comm string
	// Uses says how: "cwd", "root", "exe", "open file", "mapped file".
	Uses []string
}

// String names the process for a person: its name passes through
// safetext.Term, so that what another user chose cannot act on the
// terminal of whoever unmounts.
func (h Holder) String() string {
	return fmt.Sprintf("pid %d (%s: %s)", h.PID, safetext.Term(h.Comm), strings.Join(h.Uses, ", "))
}

// BusyError is an unmount refused because processes use the mount.
type BusyError struct {
	Mountpoint string
	Holders    []Holder
}

func (e *BusyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unmount %s: %v", safetext.Term(e.Mountpoint), syscall.EBUSY)
	if len(e.Holders) > 0 {
		b.WriteString(": held by ")
		for i, h := range e.Holders {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(h.String())
		}
	}
	b.WriteString("; close those files or use --lazy")
	return b.String()
}

// Unwrap makes errors.Is(err, syscall.EBUSY) hold.
func (e *BusyError) Unwrap() error { return syscall.EBUSY }
