#!/usr/bin/env bash
# .ci/seaweedfs.sh — build SeaweedFS's `weed` (the S3 store the s3:// tests
# start) from its Go module, once per version, into the user's cache
# directory (never into the repository), and print the binary's path.
#
#   .ci/seaweedfs.sh          build if missing, print the path
#   .ci/seaweedfs.sh --check  print the path if built, else exit 1
#
# `go install …@version` cannot build it (its go.mod has replace
# directives), so the module source is downloaded, copied and built in
# place: ≈ 4.5 min and 230 MB on 2 cores. .ci/run calls this before the
# tests and passes the path in ISOFSD_WEED; the tests find the cached
# binary themselves otherwise (isofmt/s3src/s3test).
set -euo pipefail

VERSION=v0.0.0-20261109003541-7506e5f91cd6
cache=${XDG_CACHE_HOME:-$HOME/.cache}/isofsd/seaweedfs-$VERSION
bin=$cache/weed

if [ "${1:-}" = "--check" ]; then
	[ -x "$bin" ] || exit 1
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"
# One build at a time (test packages may ask in parallel).
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$bin" ]; then
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
	# Outside any module, so that the download touches no go.mod.
	dir=$(cd "$work" && GOFLAGS= GO111MODULE=on go mod download -json "github.com/seaweedfs/seaweedfs@$VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		echo ".ci/seaweedfs.sh: go mod download gave no source directory" >&2
		exit 1
	fi
	cp -r "$dir" "$work/src"
	chmod -R u+w "$work/src"
	# SeaweedFS's go.mod may ask for a newer Go than the one installed
	# (go.mod here names the oldest isofsd builds with): GOTOOLCHAIN=auto
	# fetches that release through the module proxy when needed, even
	# where the environment says local.
	(cd "$work/src" && GOFLAGS= GOTOOLCHAIN=auto go build -o "$bin.tmp" ./weed) >&2
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
