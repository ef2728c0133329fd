//go:build !linux

package pgtest

import "errors"

// Server is a throwaway PostgreSQL server (Linux only).
type Server struct{}

// InstallHint says what to install when the server cannot start.
const InstallHint = "the PostgreSQL test server runs on Linux only"

// Start fails: the test server runs on Linux only.
func Start() (*Server, error) { return nil, errors.New(InstallHint) }

// DSN is not available off Linux.
func (*Server) DSN(string) string { return "" }

// URL is not available off Linux.
func (*Server) URL(string) string { return "" }

// CreateDB fails off Linux.
func (*Server) CreateDB() (string, error) { return "", errors.New(InstallHint) }

// LogTail is empty off Linux.
func (*Server) LogTail() string { return "" }

// Stop does nothing off Linux.
func (*Server) Stop() {}

// Restart fails off Linux.
func (*Server) Restart() error { return errors.New(InstallHint) }

// Up fails off Linux.
func (*Server) Up() error { return errors.New(InstallHint) }

// Down does nothing off Linux.
func (*Server) Down() {}
