package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// globals are the flags every command takes.
type globals struct {
	coordinatorDir string
	address        string
	fingerprint    string
	tokenFile      string
	asJSON         bool
	timeout        time.Duration
}

func (g *globals) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.coordinatorDir, "coordinator-dir", filepath.Join(home.Dir(), "coordinator"),
		"a local coordinator's data directory, read for defaults (client.json, admin.token, signer.token)")
	pf.StringVar(&g.address, "coordinator", "", "coordinator address host:port (default: from --coordinator-dir)")
	pf.StringVar(&g.fingerprint, "fingerprint", "", "coordinator certificate SHA-256 fingerprint to pin; during a certificate rotation, both: OLD,NEW (default: from --coordinator-dir)")
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (default: admin.token, or signer.token for 'sign', in --coordinator-dir)")
	pf.BoolVar(&g.asJSON, "json", false, "machine-readable JSON output")
	pf.DurationVar(&g.timeout, "timeout", 2*time.Minute, "deadline of the request")
}

// bearer sends the API token with every call (only over TLS).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

// endpoint is the coordinator's address and the certificate fingerprints
// this client pins (during a rotation, the next one's too).
func (g *globals) endpoint() (string, []string, error) {
	addr, fp := g.address, g.fingerprint
	var pins []string
	if fp != "" {
		pins = strings.Split(fp, ",")
	}
	if addr == "" || fp == "" {
		var cc coordinator.ClientConfig
		b, err := os.ReadFile(filepath.Join(g.coordinatorDir, "client.json"))
		if err != nil {
			return "", nil, fmt.Errorf("no coordinator address/fingerprint: pass --coordinator and --fingerprint, or --coordinator-dir of a running coordinator (%v)", err)
		}
		if err := json.Unmarshal(b, &cc); err != nil {
			return "", nil, fmt.Errorf("%s: %v", filepath.Join(g.coordinatorDir, "client.json"), err)
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

// dial connects with the pinned certificate and the token of role.
func (g *globals) dial(role string) (*grpc.ClientConn, error) {
	addr, pins, err := g.endpoint()
	if err != nil {
		return nil, err
	}
	tokenFile := g.tokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(g.coordinatorDir, role+".token")
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
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)), grpc.WithPerRPCCredentials(bearer(token)))
}

func (g *globals) admin(cmd *cobra.Command) (mpcv1.AdminServiceClient, func(), context.Context, error) {
	conn, err := g.dial("admin")
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	return mpcv1.NewAdminServiceClient(conn), func() { cancel(); conn.Close() }, ctx, nil
}

func (g *globals) signer(cmd *cobra.Command) (mpcv1.SignerServiceClient, func(), context.Context, error) {
	conn, err := g.dial("signer")
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	return mpcv1.NewSignerServiceClient(conn), func() { cancel(); conn.Close() }, ctx, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
