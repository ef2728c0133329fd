package config

import (
	"errors"
	"fmt"
)

var (
	// ErrSyntax is a config file line outside the accepted TOML subset, or
	// a key set twice.
	ErrSyntax = errors.New("config: syntax error")
	// ErrUnknown is a config file key or a prefixed environment variable
	// that names no flag.
	ErrUnknown = errors.New("config: unknown setting")
	// ErrBadValue is a value its flag refuses, or one of the wrong TOML type.
	ErrBadValue = errors.New("config: bad value")
)

// Error is a setting that cannot be used, with where it came from:
// "config file c.toml line 4: drain_timeout", "environment
// MPCSIGN_COORDINATOR_LISTEN" or "--listen". errors.Is matches it against
// ErrSyntax, ErrUnknown or ErrBadValue when one of them applies.
type Error struct {
	Source string
	// Key is the config file key of the line that Source names: the key
	// the line sets, even when the line is refused or cannot be parsed.
	// Empty for an error that is not about a config file line, or about a
	// line that starts with no bare key (a table, a quoted key). A caller
	// can say more about a key than that it is unknown without reading the
	// file again.
	Key string
	Err error
}

func (e *Error) Error() string { return e.Source + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// kindError reads as its message alone and matches its sentinel too.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return []error{e.kind} }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
