package keystore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustPut(t, s, map[string]string{"k": "v"})

	second, err := Open(dir, testPass(), testOptions())
	if !errors.Is(err, ErrLocked) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second Open in the same process = %v, want ErrLocked", err)
	}
	// A wrong passphrase also meets the lock first: no KDF work, no hint.
	if _, err := Open(dir, NewPassphrase([]byte("wrong")), testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open with a wrong passphrase = %v, want ErrLocked", err)
	}
	// The first store still works, and the directory opens once it is closed.
	wantValue(t, s, "k", "v")
	closeStore(t, s)
	s = openStore(t, dir)
	wantValue(t, s, "k", "v")
}

// helperDirEnv tells the test binary, re-run as a child process, to try to
// open the given directory and report the result through its exit code.
const helperDirEnv = "KEYSTORE_TEST_LOCK_HELPER_DIR"

const (
	exitLocked = 3
	exitOpened = 4
	exitOther  = 5
)

// TestMain runs the child side of TestSecondOpenFromAnotherProcess when the
// test binary is started as that child, and the tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		os.Exit(lockHelper(dir))
	}
	os.Exit(m.Run())
}

func TestSecondOpenFromAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)

	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitLocked {
		t.Fatalf("child Open: %v (want exit code %d)\n%s", err, exitLocked, out)
	}
	closeStore(t, s)
}

// lockHelper is the child side of TestSecondOpenFromAnotherProcess: it tries
// to open dir, which its parent holds open, and reports how through its exit
// code.
func lockHelper(dir string) int {
	s, err := Open(dir, testPass(), testOptions())
	switch {
	case err == nil:
		s.Close()
		return exitOpened
	case errors.Is(err, ErrLocked):
		return exitLocked
	default:
		fmt.Fprintf(os.Stderr, "Open: %v\n", err)
		return exitOther
	}
}
