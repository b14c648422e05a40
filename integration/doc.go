// Package integration drives the real isofsd binary against real FUSE
// mounts: it builds the binary, builds images with xorriso and
// genisoimage (and uses every image of the corpus in isofmt/testdata/corpus), mounts each one
// and checks the mounted tree against an independent extraction (xorriso,
// 7-Zip), then exercises the mount lifecycle and fault paths (signals,
// stale mounts, busy mountpoints, an image truncated under a live mount).
//
// The tests need /dev/fuse and fusermount3; isotest.RequireFUSE skips them with a
// message where those are missing. They are built on Linux only (loop
// devices, mountinfo, fusectl); cgofuse_test.go drives the cgofuse
// backend.
package integration
