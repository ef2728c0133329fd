// Package home says where the commands keep their data by default.
package home

import (
	"os"
	"path/filepath"
)

// Dir is $MPC_HOME, else ~/.mpcsign (else .mpcsign in the working directory).
func Dir() string {
	if h := os.Getenv("MPC_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".mpcsign")
	}
	return ".mpcsign"
}
