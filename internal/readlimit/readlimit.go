// Package readlimit reads small files that may hold secrets (passphrases,
// backup words, key files) without letting a huge or endless file exhaust
// memory.
package readlimit

import (
	"fmt"
	"io"
	"os"
)

// File reads the file at path, refusing one longer than limit bytes. On any
// error the bytes read so far are wiped. An error opening the file is the
// *fs.PathError itself, so errors.Is(err, fs.ErrNotExist) works.
func File(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		clear(buf)
		return nil, fmt.Errorf("read %q: %w", path, err)
	}
	if int64(len(buf)) > limit {
		clear(buf)
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return buf, nil
}

// TooLargeError is File's error for a file longer than its limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%q is larger than %d bytes", e.Path, e.Limit)
}
