package buildinfo

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	tss := &debug.Module{Path: TSSLibPath, Version: "v2.0.2"}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{
			name: "local build without VCS stamp",
			bi:   debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/mpcsign/mpcsign", Version: "(devel)"}, Deps: []*debug.Module{tss}},
			want: Info{Version: "devel", GoVersion: "go1.26.0", TSSLib: "v2.0.2"},
		},
		{
			name: "empty main version",
			bi:   debug.BuildInfo{Deps: []*debug.Module{{Path: "example.com/other", Version: "v1.0.0"}}},
			want: Info{Version: "devel", TSSLib: "unknown"},
		},
		{
			name: "installed at a version with a VCS stamp",
			bi: debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/mpcsign/mpcsign", Version: "v0.3.0"},
				Deps:      []*debug.Module{{Path: "example.com/other", Version: "v1.0.0"}, tss},
				Settings: []debug.BuildSetting{
					{Key: "vcs", Value: "git"},
					{Key: "vcs.revision", Value: "88a2a70"},
					{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
					{Key: "vcs.modified", Value: "true"},
				},
			},
			want: Info{Version: "v0.3.0", Revision: "88a2a70", Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.0", TSSLib: "v2.0.2"},
		},
		{
			name: "tss-lib replaced by a fork",
			bi: debug.BuildInfo{Deps: []*debug.Module{{Path: TSSLibPath, Version: "v2.0.2",
				Replace: &debug.Module{Path: "example.com/fork", Version: "v2.0.3"}}}},
			want: Info{Version: "devel", TSSLib: "v2.0.3 (replaced by example.com/fork)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := From(&tt.bi); got != tt.want {
				t.Fatalf("From() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	got := Info{Version: "devel", Revision: "abc", Modified: true, GoVersion: "go1.26.0", TSSLib: "v2.0.2"}.Text("party")
	for _, want := range []string{"party devel\n", "revision: abc (modified)\n", "go:       go1.26.0\n", "tss-lib:  github.com/bnb-chain/tss-lib/v2 v2.0.2\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("Text() lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "built:") {
		t.Errorf("Text() shows an empty build time:\n%s", got)
	}
}

func TestJSONFieldNames(t *testing.T) {
	b, err := json.Marshal(Info{Version: "devel", GoVersion: "go1.26.0", TSSLib: "v2.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":"devel","go_version":"go1.26.0","tss_lib":"v2.0.2"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}

// TestRead checks the test binary's own build information: a test binary
// is a local build and lists no dependencies, so both versions fall back.
func TestRead(t *testing.T) {
	if got, want := Read(), (Info{Version: Devel, TSSLib: Unknown, GoVersion: runtime.Version()}); got != want {
		t.Fatalf("Read() = %+v, want %+v", got, want)
	}
}

// TestStamped checks a version set with -ldflags -X replaces "devel".
func TestStamped(t *testing.T) {
	old := stamped
	t.Cleanup(func() { stamped = old })
	stamped = "v0.3.0"
	if got := Read().Version; got != "v0.3.0" {
		t.Fatalf("Read().Version = %q with a stamped version, want v0.3.0", got)
	}
}

func TestCommand(t *testing.T) {
	cmd := Command("party")
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if out.String() != Read().Text("party") || !strings.Contains(out.String(), "party") {
		t.Fatalf("version output %q", out.String())
	}
}

func TestCommandJSON(t *testing.T) {
	cmd := Command("coordinator")
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, out.String())
	}
	if got != Read() {
		t.Fatalf("version --json = %+v, want %+v", got, Read())
	}
	if !strings.Contains(out.String(), `"tss_lib"`) {
		t.Fatalf("version --json lacks the tss-lib version: %s", out.String())
	}
}

func TestClientHasNoTSSLib(t *testing.T) {
	i := Info{Version: "v1.0.0", GoVersion: "go1.26.0", TSSLib: "v2.0.2"}.Client()
	if strings.Contains(i.Text("mpcctl"), "tss-lib") {
		t.Fatalf("a client's version text names tss-lib:\n%s", i.Text("mpcctl"))
	}
	b, err := json.Marshal(i)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":"v1.0.0","go_version":"go1.26.0"}`; string(b) != want {
		t.Fatalf("client JSON = %s, want %s", b, want)
	}
}
