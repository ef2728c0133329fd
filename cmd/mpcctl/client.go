package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/home"
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

	// adminClient, when set (by tests only), is used instead of dialing
	// the coordinator for admin calls.
	adminClient mpcv1.AdminServiceClient
}

func (g *globals) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.coordinatorDir, "coordinator-dir", filepath.Join(home.Dir(), "coordinator"),
		"a local coordinator's data directory, read for defaults (client.json, admin.token, signer.token)")
	pf.StringVar(&g.address, "coordinator", "", "coordinator address host:port, or every replica's, comma-separated (calls go to the active one; default: from --coordinator-dir)")
	pf.StringVar(&g.fingerprint, "fingerprint", "", "coordinator certificate SHA-256 fingerprint to pin; during a certificate rotation, both: OLD,NEW (default: from --coordinator-dir)")
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (default: admin.token, or signer.token for 'sign', in --coordinator-dir)")
	pf.BoolVar(&g.asJSON, "json", false, "machine-readable JSON output")
	pf.DurationVar(&g.timeout, "timeout", 2*time.Minute, "deadline of the request")
}

// target is the coordinator the flags name.
func (g *globals) target() coordclient.Target {
	return coordclient.Target{Dir: g.coordinatorDir, Address: g.address, Fingerprint: g.fingerprint, TokenFile: g.tokenFile}
}

// endpoint is the coordinator's address and the certificate fingerprints
// this client pins (during a rotation, the next one's too).
func (g *globals) endpoint() (string, []string, error) { return g.target().Endpoint() }

// dial connects with the pinned certificate and the token of role.
func (g *globals) dial(role string) (*grpc.ClientConn, error) { return g.target().Dial(role) }

func (g *globals) admin(cmd *cobra.Command) (mpcv1.AdminServiceClient, func(), context.Context, error) {
	if g.adminClient != nil {
		ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
		return g.adminClient, cancel, ctx, nil
	}
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
