package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// bearerToken sends an API token the way a wallet backend would.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearerToken) RequireTransportSecurity() bool { return true }

// pinnedTLS trusts exactly the certificate whose SHA-256 is fingerprint. It
// is written here rather than taken from the product, so that the e2e client
// checks the pin independently.
func pinnedTLS(t testing.TB, fingerprint string) *tls.Config {
	t.Helper()
	want, err := hex.DecodeString(fingerprint)
	if err != nil || len(want) != sha256.Size {
		t.Fatalf("bad fingerprint %q", fingerprint)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the exact pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return errors.New("server certificate does not match the pin")
			}
			return nil
		},
	}
}

// dialGRPC connects to the coordinator directly. tokenFile names a token
// file in the coordinator's directory ("admin.token", "signer.token"), or is
// empty for a call with no token at all.
func (c *cluster) dialGRPC(t testing.TB, tokenFile string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(pinnedTLS(t, c.fingerprint)))}
	if tokenFile != "" {
		b, err := os.ReadFile(filepath.Join(c.coordDir, tokenFile))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(strings.TrimSpace(string(b)))))
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// grpcErr turns a client error into the form mpcctl prints.
func grpcErr(t testing.TB, err error) rpcError {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded; want an error")
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status error: %v", err)
	}
	return rpcError{Code: st.Code().String(), Msg: st.Message()}
}
