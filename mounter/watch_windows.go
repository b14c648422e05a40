//go:build windows

package mounter

import (
	"context"
	"errors"
	"time"
)

// watcher: the watch directory needs descriptor-relative, no-follow
// opens (openat), which Windows lacks; mount images there with `isofsd
// mount IMAGE X:` or the Explorer verb instead.
type watcher struct{}

func newWatcher(d *Daemon, dir, root string, stable time.Duration, poll bool) (*watcher, error) {
	return nil, errors.New("--watch is not supported on Windows: mount images with `isofsd mount IMAGE X:` or Explorer's \"Mount with isofsd\"")
}

func (w *watcher) initial(ctx context.Context) {}
func (w *watcher) run(ctx context.Context)     {}
func (w *watcher) pending() int                { return 0 }
