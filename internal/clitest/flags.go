package clitest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// CheckDefaults fails t for each flag of want that cmd lacks or whose
// default is not the one given.
func CheckDefaults(t testing.TB, cmd *cobra.Command, want map[string]string) {
	t.Helper()
	for flag, def := range want {
		f := cmd.Flags().Lookup(flag)
		if f == nil || f.DefValue != def {
			t.Errorf("%s --%s: %+v, want default %q", cmd.Name(), flag, f, def)
		}
	}
}

// CheckTestOnlyFlag checks a TEST-ONLY flag that only a build with -tags
// testfixtures has: newRoot(true) registers it hidden, with the default
// def; newRoot(false) has none and refuses "--name value" as an unknown
// flag; and this build (withTag: whether it has the tag) has it only with
// the tag.
func CheckTestOnlyFlag(t testing.TB, newRoot func(testFlags bool) *cobra.Command, withTag bool, name, def, value string) {
	t.Helper()
	for _, testFlags := range []bool{false, true} {
		f := newRoot(testFlags).Flags().Lookup(name)
		if (f != nil) != testFlags || (f != nil && (!f.Hidden || f.DefValue != def)) {
			t.Errorf("newRootCmd(%v): flag %+v", testFlags, f)
		}
	}
	if f := newRoot(withTag).Flags().Lookup(name); (f != nil) != withTag {
		t.Errorf("this build (testfixtures %v) has the flag: %v", withTag, f != nil)
	}
	cmd := newRoot(false)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--" + name, value})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: --"+name) {
		t.Errorf("a product build with --%s: %v, want an unknown flag", name, err)
	}
}
