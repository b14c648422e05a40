package fetch

import "io/fs"

// Windows has no O_NOFOLLOW; checkOurs refuses a link by Lstat and
// openTarget compares what it opened with what it looked at.
const noFollow = 0

func isLoop(error) bool { return false }

// notOwned: a file's owner is an ACL matter on Windows, and a shared
// directory there is not writable by others by default.
func notOwned(fs.FileInfo) string { return "" }
