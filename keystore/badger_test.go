package keystore

import (
	"errors"
	"testing"
)

func TestIsLockError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New(`Cannot acquire directory lock on "/d".  Another process is using this Badger database. err: resource temporarily unavailable`), true},
		{errors.New("Manifest has bad magic"), false},
	}
	for _, tt := range tests {
		if got := isLockError(tt.err); got != tt.want {
			t.Errorf("isLockError(%q) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
