package coordclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/internal/replicas"
	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// Target names a coordinator and the token to call it with. Address and
// Fingerprint default to the client configuration in Dir, TokenFile to the
// role's token file there (admin.token, signer.token).
type Target struct {
	Dir         string
	Address     string
	Fingerprint string // pins, comma-separated: OLD,NEW during a rotation
	TokenFile   string
}

// Endpoint is the coordinator's address and the certificate fingerprints
// this client pins (during a rotation, the next one's too).
func (t Target) Endpoint() (string, []string, error) {
	addr, fp := t.Address, t.Fingerprint
	var pins []string
	if fp != "" {
		pins = strings.Split(fp, ",")
	}
	if addr == "" || fp == "" {
		var cc ClientConfig
		path := filepath.Join(t.Dir, ConfigFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return "", nil, fmt.Errorf("no coordinator address/fingerprint: pass --coordinator and --fingerprint, or --coordinator-dir of a running coordinator (%v)", err)
		}
		if err := json.Unmarshal(b, &cc); err != nil {
			return "", nil, fmt.Errorf("%s: %v", path, err)
		}
		if addr == "" {
			addr = cc.Address
		}
		if fp == "" {
			pins = cc.Pins() // during a rotation, the next certificate's too
		}
	}
	return addr, pins, nil
}

// Dial connects with the pinned certificate and the token of role.
func (t Target) Dial(role string) (*grpc.ClientConn, error) {
	addr, pins, err := t.Endpoint()
	if err != nil {
		return nil, err
	}
	tokenFile := t.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(t.Dir, role+".token")
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read token file: %v (pass --token-file)", err)
	}
	token := strings.TrimSpace(string(tok))
	if token == "" {
		return nil, errors.New("token file is empty")
	}
	tlsCfg, err := tlspin.ClientConfig(pins...)
	if err != nil {
		return nil, err
	}
	target, opts, err := replicas.Target(addr) // several replicas: calls go to the active one
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)), grpc.WithPerRPCCredentials(bearer(token)))...)
}

// bearer sends the API token with every call (only over TLS).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }
