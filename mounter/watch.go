package mounter

import (
	"path/filepath"
	"strings"
	"time"
)

// DefaultStableFor is how long a watched image's size and mtime must not
// change before it is mounted: copies, downloads and `dd` write in bursts,
// and mounting a half-written image would fail or, worse, show a
// truncated tree.
const DefaultStableFor = 500 * time.Millisecond

// IsImageName reports whether name is an image the watcher mounts.
func IsImageName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".iso" || ext == ".img") && !strings.HasPrefix(name, ".")
}
