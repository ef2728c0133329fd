// Package buildinfo reports what a binary was built from: the module version
// (or VCS revision) and the tss-lib version linked into it, both read from the
// build information the Go toolchain embeds (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// TSSLibPath is the module path of the threshold-signature library.
const TSSLibPath = "github.com/bnb-chain/tss-lib/v2"

// Devel is the version of a build that carries no module version (a local
// `go build`, or -buildvcs=false).
const Devel = "devel"

// Unknown is the tss-lib version when the build information lists no
// tss-lib (test binaries carry no dependency list).
const Unknown = "unknown"

// stamped, when set at link time, overrides the module version for builds
// that carry none (a container build from a source tree without .git):
//
//	go build -ldflags "-X github.com/mpcsign/mpcsign/internal/buildinfo.stamped=v0.3.0" ./cmd/...
var stamped string

// Info is what a `version` subcommand prints.
type Info struct {
	// Version is the main module's version ("v1.2.3" when installed with
	// `go install module@version`), or "devel" for a local build.
	Version string `json:"version"`
	// Revision, Time and Modified come from the VCS stamp (absent when built
	// with -buildvcs=false or outside a repository).
	Revision string `json:"vcs_revision,omitempty"`
	Time     string `json:"vcs_time,omitempty"`
	Modified bool   `json:"vcs_modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// TSSLib is the version of TSSLibPath linked in ("unknown" when the
	// build information does not say; empty for a client that links none,
	// such as mpcctl: see Client).
	TSSLib string `json:"tss_lib,omitempty"`
}

// Read returns the running binary's build information.
func Read() Info {
	info := Info{Version: Devel, TSSLib: Unknown}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = From(bi)
	}
	if stamped != "" && info.Version == Devel {
		info.Version = stamped
	}
	return info
}

// Client is Info for a binary that links no threshold-signature code (the
// operator's CLI): it has no tss-lib version to report.
func (i Info) Client() Info {
	i.TSSLib = ""
	return i
}

// From extracts Info from bi.
func From(bi *debug.BuildInfo) Info {
	info := Info{Version: Devel, TSSLib: Unknown, GoVersion: bi.GoVersion}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path != TSSLibPath {
			continue
		}
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		if m.Version != "" {
			info.TSSLib = m.Version
		}
		if m.Path != TSSLibPath {
			info.TSSLib += " (replaced by " + m.Path + ")"
		}
	}
	return info
}

// Text renders info for a terminal, with program as the first word.
func (i Info) Text(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", program, i.Version)
	if i.Revision != "" {
		rev := i.Revision
		if i.Modified {
			rev += " (modified)"
		}
		fmt.Fprintf(&b, "  revision: %s\n", rev)
	}
	if i.Time != "" {
		fmt.Fprintf(&b, "  built:    %s\n", i.Time)
	}
	if i.GoVersion != "" {
		fmt.Fprintf(&b, "  go:       %s\n", i.GoVersion)
	}
	if i.TSSLib != "" {
		fmt.Fprintf(&b, "  tss-lib:  %s %s\n", TSSLibPath, i.TSSLib)
	}
	return b.String()
}
