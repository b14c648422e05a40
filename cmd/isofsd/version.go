package main

// `isofsd --version`: what this binary is — its version, the commit it
// was built from, the Go toolchain and the FUSE backends built in — read
// from the build information the Go linker embeds.

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/isofsd/isofsd/fs/cgofuse"
)

// version is set by release builds (-ldflags "-X main.version=v1.2.3");
// otherwise the module version of `go install …@v1.2.3` is used, and a
// build from a checkout says "devel".
var version = ""

// buildInfo is what --version reports.
type buildInfo struct {
	Version  string
	Commit   string // VCS revision, with "-dirty" for uncommitted changes
	Time     string // commit time
	Go       string
	Platform string
	Backends []string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Backends: fuseBackends()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && b.Commit != "" {
			b.Commit += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// String is the text --version prints.
func (b buildInfo) String() string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built without VCS information)"
	} else if b.Time != "" {
		commit += " (" + b.Time + ")"
	}
	backends := strings.Join(b.Backends, ", ")
	if backends == "" {
		backends = "none (mount is not available in this build)"
	}
	return fmt.Sprintf("isofsd %s\ncommit:        %s\ngo:            %s %s\nfuse backends: %s\n",
		b.Version, commit, b.Go, b.Platform, backends)
}

// fuseBackends lists the FUSE backends built into this binary, in the
// order --backend prefers them: go-fuse is Linux-only (its package is
// built for Linux alone), cgofuse is in Windows builds and in builds
// tagged cgofuse.
func fuseBackends() []string {
	var out []string
	if runtime.GOOS == "linux" {
		out = append(out, "gofuse")
	}
	if cgofuse.Available {
		out = append(out, "cgofuse")
	}
	return out
}
