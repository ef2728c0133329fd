// Package e2e tests the product as a user runs it: it builds the real
// coordinator, party and mpcctl binaries once, then starts them as separate
// processes talking gRPC over TLS on 127.0.0.1, and drives them through
// mpcctl's JSON output (plus a direct gRPC client where the CLI cannot express
// a bad request).
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	// binDir holds the coordinator, party and mpcctl binaries built by TestMain.
	binDir string
	// moduleRoot is the directory of the module's go.mod.
	moduleRoot string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleRoot = root
	dir, err := os.MkdirTemp("", "mpcsign-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// -tags leakcheck adds an exit-time goroutine leak check to the
	// coordinator and the party (internal/leakcheck): after a clean shutdown
	// on SIGTERM, a process that left goroutines running prints them and
	// exits with leakExitCode, so every test that requires a clean exit
	// checks for leaks too. -tags testfixtures gives the party its hidden
	// TEST-ONLY --insecure-test-preparams flag.
	build := exec.Command("go", "build", "-tags", "leakcheck,testfixtures", "-o", dir+string(os.PathSeparator), "./cmd/coordinator", "./cmd/party", "./cmd/mpcctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the binaries failed: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// findModuleRoot asks the go command for the module's go.mod, and falls back
// to walking up from the working directory.
func findModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// bin is the path of one of the built binaries.
func bin(name string) string { return filepath.Join(binDir, name) }

// preparamsFixture is TEST-ONLY pre-parameter file n. Files 1 to 4 hold
// three distinct sets each, files 5 to 7 seven each (for the reshare tests,
// where a device takes one set per keygen or reshare it joins); no two
// parties of one cluster get the same file.
func preparamsFixture(n int) string {
	return filepath.Join(moduleRoot, "testdata", "preparams", fmt.Sprintf("TEST-ONLY-set-%d.json", n))
}
