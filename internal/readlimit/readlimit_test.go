package readlimit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := File(path, 5); err != nil || string(b) != "12345" {
		t.Fatalf("File at the limit = %q, %v", b, err)
	}
	_, err := File(path, 4)
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 4 || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Fatalf("File over the limit: err = %v", err)
	}
	if _, err := File(filepath.Join(dir, "missing"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := File(dir, 4); err == nil {
		t.Fatal("reading a directory succeeded")
	}
}
