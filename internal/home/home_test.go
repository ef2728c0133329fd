package home

import (
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	t.Setenv("MPC_HOME", "/srv/mpc")
	if got := Dir(); got != "/srv/mpc" {
		t.Fatalf("with MPC_HOME: %s", got)
	}
	t.Setenv("MPC_HOME", "")
	t.Setenv("HOME", "/home/alice")
	if got := Dir(); got != filepath.Join("/home/alice", ".mpcsign") {
		t.Fatalf("without MPC_HOME: %s", got)
	}
}
