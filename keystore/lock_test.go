package keystore

import (
	"errors"
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

func TestSecondOpenFromAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	s := openStore(t, dir)

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitLocked {
		t.Fatalf("child Open: %v (want exit code %d)\n%s", err, exitLocked, out)
	}
	closeStore(t, s)
}

// TestLockHelperProcess is the child side of TestSecondOpenFromAnotherProcess;
// it does nothing in a normal run.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := Open(dir, testPass(), testOptions())
	switch {
	case err == nil:
		s.Close()
		os.Exit(exitOpened)
	case errors.Is(err, ErrLocked):
		os.Exit(exitLocked)
	default:
		t.Logf("Open: %v", err)
		os.Exit(exitOther)
	}
}
