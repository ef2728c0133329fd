//go:build !malicious

package party

import (
	"log/slog"

	"github.com/mpcsign/mpcsign/internal/envelope"
)

// The product build never misbehaves on purpose (malicious_on.go): only the
// package's own tests can make an agent tamper with its messages.
func maliciousTamper(*slog.Logger) *tamperFunc { return nil }

// maliciousAccuses: the product build accuses nobody falsely.
func maliciousAccuses(string, []string) []string { return nil }

// maliciousSeal: the product build seals every envelope honestly.
func maliciousSeal(*session, envelope.Header, []byte) *Failure { return nil }
