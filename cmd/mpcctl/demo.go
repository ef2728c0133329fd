package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/logging"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newDemoCmd() *cobra.Command {
	var dir, logLevel string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local demo: a coordinator and three devices on loopback, keygen and signing",
		Long: `Starts a coordinator and three device agents (phone, laptop, server) in this
process, talking real gRPC over TLS on 127.0.0.1, each device with its own
encrypted keystore under a temporary directory. Then it pairs the devices,
creates a 2-of-3 key, signs, stops one device and signs again with the two
others, verifying every signature with an independent verifier.

Each device first generates fresh pre-parameters (safe primes): on a small
machine that takes a minute or two.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, keep, logLevel)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's data (default: a new temporary directory)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the data directory afterwards")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the coordinator and devices")
	return cmd
}

type demoDevice struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

func runDemo(ctx context.Context, out, errw io.Writer, dir string, keep bool, logLevel string) (err error) {
	step := func(format string, a ...any) { fmt.Fprintf(out, "==> "+format+"\n", a...) }
	if dir == "" {
		dir, err = os.MkdirTemp("", "mpcsign-demo-")
		if err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	log, err := logging.New(errw, logLevel, "text")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	step("starting a coordinator on 127.0.0.1 (data in %s)", dir)
	srv, err := coordinator.New(coordinator.Options{DataDir: filepath.Join(dir, "coordinator"), Logger: log.With("proc", "coordinator")})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, lis) }()
	defer func() { cancel(); wg.Wait(); srv.Close() }()
	step("coordinator listening on %s, certificate fingerprint %s", lis.Addr(), srv.Fingerprint())

	g := &globals{coordinatorDir: filepath.Join(dir, "coordinator"), timeout: 15 * time.Minute}
	if err := waitFile(ctx, filepath.Join(g.coordinatorDir, "client.json")); err != nil {
		return err
	}
	adminConn, err := g.dial("admin")
	if err != nil {
		return err
	}
	defer adminConn.Close()
	admin := mpcv1.NewAdminServiceClient(adminConn)
	signerConn, err := g.dial("signer")
	if err != nil {
		return err
	}
	defer signerConn.Close()
	signer := mpcv1.NewSignerServiceClient(signerConn)

	names := []string{"phone", "laptop", "server"}
	devices := map[string]*demoDevice{}
	defer func() {
		for _, d := range devices {
			d.cancel()
			<-d.done
		}
	}()
	for _, name := range names {
		code, err := admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name})
		if err != nil {
			return err
		}
		d, sas, err := startDemoDevice(ctx, filepath.Join(dir, name), name, code.GetCode(), log.With("proc", name))
		if err != nil {
			return fmt.Errorf("device %s: %w", name, err)
		}
		devices[name] = d
		// The operator compares the string the device shows with the one the
		// coordinator lists, then approves by typing it.
		list, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		for _, dv := range list.GetDevices() {
			if dv.GetName() == name && dv.GetSas() != sas {
				return fmt.Errorf("device %s shows %s but the coordinator lists %s", name, sas, dv.GetSas())
			}
		}
		if _, err := admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: name, Sas: sas}); err != nil {
			return err
		}
		step("paired %q with a one-time code; device and coordinator both show %s; approved", name, sas)
	}
	if err := waitOnline(ctx, admin, names); err != nil {
		return err
	}
	step("all three devices are connected")
	step("each device is generating fresh pre-parameters (Paillier safe primes); this can take a minute or two")
	start := time.Now()
	stop := showPreparing(ctx, admin, names, errw)
	created, err := admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: names})
	stop()
	if err != nil {
		return err
	}
	key := created.GetKey()
	step("created a 2-of-3 key %s in %s", key.GetId(), time.Since(start).Round(time.Second))
	step("public key %x, held by %s", key.GetPublicKey(), strings.Join(holderNames(key), ", "))

	sign := func(msg string) error {
		digest := sha256.Sum256([]byte(msg))
		t0 := time.Now()
		resp, err := signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest[:]})
		if err != nil {
			return err
		}
		if err := verifyIndependently(key.GetPublicKey(), digest[:], resp); err != nil {
			return err
		}
		step("signed sha256(%q) with %s in %s", msg, strings.Join(resp.GetSigners(), " + "), time.Since(t0).Round(time.Millisecond))
		step("  r||s||v %x", resp.GetSignatureRsv())
		step("  verified: DER signature checks against the public key, and v recovers it")
		return nil
	}
	if err := sign("hello from the mpcsign demo"); err != nil {
		return err
	}
	step("stopping device %q", names[0])
	devices[names[0]].cancel()
	<-devices[names[0]].done
	delete(devices, names[0])
	if err := waitOffline(ctx, admin, names[0]); err != nil {
		return err
	}
	if err := sign("signed while the phone is off"); err != nil {
		return err
	}
	step("stopping device %q too: one device alone cannot sign", names[1])
	devices[names[1]].cancel()
	<-devices[names[1]].done
	delete(devices, names[1])
	if err := waitOffline(ctx, admin, names[1]); err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("this must fail"))
	_, err = signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest[:]})
	if err == nil {
		return errors.New("signing with one device of a 2-of-3 key succeeded")
	}
	st := status.Convert(err)
	step("refused as expected: %s: %s", st.Code(), st.Message())
	step("demo finished: every signature verified")
	return nil
}

func startDemoDevice(ctx context.Context, dir, name, code string, log *slog.Logger) (d *demoDevice, sas string, err error) {
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	ks, err := keystore.Open(dir, keystore.NewPassphrase([]byte(hex.EncodeToString(pw[:]))), keystore.Options{Logger: log})
	if err != nil {
		return nil, "", err
	}
	cfg, err := party.Enroll(ctx, ks, code)
	if err != nil {
		ks.Close()
		return nil, "", err
	}
	sas = cfg.SAS
	// The demo makes one key, so each device generates the one fresh set it
	// needs and then stops, leaving the cores to the signing that follows.
	var made atomic.Bool
	generateOne := func(ctx context.Context) (*preparams.Set, error) {
		if made.Load() {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		s, err := preparams.Generate(ctx, 0)
		if err == nil {
			made.Store(true)
		}
		return s, err
	}
	a, err := party.New(party.Options{Store: ks, Logger: log, PoolTarget: 1, Generate: generateOne})
	if err != nil {
		ks.Close()
		return nil, "", err
	}
	dctx, cancel := context.WithCancel(ctx)
	d = &demoDevice{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer ks.Close()
		if err := a.Run(dctx); err != nil {
			log.Error("device stopped", "err", err)
		}
	}()
	return d, sas, nil
}

// verifyIndependently checks a signature with decred's secp256k1, not with
// the service's own code.
func verifyIndependently(pubBytes, digest []byte, r *mpcv1.SignResponse) error {
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		return err
	}
	sig, err := ecdsa.ParseDERSignature(r.GetSignatureDer())
	if err != nil {
		return fmt.Errorf("DER signature does not parse: %w", err)
	}
	if !sig.Verify(digest, pub) {
		return errors.New("signature does not verify against the key")
	}
	compact := append([]byte{27 + 4 + byte(r.GetV())}, r.GetSignatureRsv()[:64]...)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pub) {
		return errors.New("recovery id v does not recover the public key")
	}
	return nil
}

func waitFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitOnline(ctx context.Context, admin mpcv1.AdminServiceClient, names []string) error {
	for {
		resp, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		online := 0
		for _, d := range resp.GetDevices() {
			for _, n := range names {
				if d.GetName() == n && d.GetOnline() {
					online++
				}
			}
		}
		if online == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitOffline(ctx context.Context, admin mpcv1.AdminServiceClient, name string) error {
	for {
		resp, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		online := false
		for _, d := range resp.GetDevices() {
			if d.GetName() == name && d.GetOnline() {
				online = true
			}
		}
		if !online {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
