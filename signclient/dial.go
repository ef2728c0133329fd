package signclient

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/internal/replicas"
	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// Dial connects to the coordinator at address ("host:port"; with several
// coordinator replicas, every replica's address, comma-separated: calls then
// go to the active one, and move when another replica takes over) the way mpcctl
// does: TLS pinning the coordinator's self-signed certificate by its
// SHA-256 fingerprint (hex, as 'coordinator serve' prints it and
// client.json holds it; during a certificate rotation pass both the current
// and the next one), and the API token (a signer token: 'mpcctl tokens
// create --role signer') sent with every call. opts are added to the
// connection's options. Close the connection when done.
func Dial(address, token string, fingerprints []string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("signclient: no API token (a signer token: mpcctl tokens create --role signer)")
	}
	if len(fingerprints) == 0 {
		return nil, errors.New("signclient: no certificate fingerprint to pin (the coordinator prints it; client.json in its data directory holds it)")
	}
	cfg, err := tlspin.ClientConfig(fingerprints...)
	if err != nil {
		return nil, err
	}
	target, balancing, err := replicas.Target(address)
	if err != nil {
		return nil, fmt.Errorf("signclient: %w", err)
	}
	opts = append(append(balancing, grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithPerRPCCredentials(bearer(token))), opts...)
	return grpc.NewClient(target, opts...)
}

// bearer sends the API token with every call, over TLS only.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }
