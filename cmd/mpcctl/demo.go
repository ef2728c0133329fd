package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/logging"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
)

func newDemoCmd() *cobra.Command {
	var dir, logLevel, logFormat, testPreparams string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local demo: coordinator and devices on loopback; keygen, sign, revoke, reshare, sign again",
		Long: `Starts a coordinator and device agents in this process, talking real gRPC
over TLS on 127.0.0.1, each device with its own encrypted keystore under a
temporary directory. The story:

  1. pair three devices (phone, laptop, server), comparing each one's short
     authentication string before approving it;
  2. create a 2-of-3 key and sign;
  3. the server is lost: sign with the two others;
  4. pair a new device (tablet), revoke the server and reshare the key to
     phone, laptop and tablet (same public key, the server's share is dead);
  5. sign again, then sign with phone and tablet alone (the new share works);
  6. one device alone cannot sign.

Every signature is verified with an independent verifier against the one
public key. Each device first generates fresh pre-parameters (safe primes):
on a small machine that takes a few minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, keep, logLevel, logFormat, testPreparams)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's data (default: a new temporary directory)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the data directory afterwards")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the coordinator and devices")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format of the coordinator and devices: text or json")
	cmd.Flags().StringVar(&testPreparams, "insecure-test-preparams", "", "TEST ONLY: directory of TEST-ONLY-set-N.json fixtures to use instead of generating pre-parameters")
	_ = cmd.Flags().MarkHidden("insecure-test-preparams")
	return cmd
}

type demoDevice struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

func runDemo(ctx context.Context, out, errw io.Writer, dir string, keep bool, logLevel, logFormat, testPreparams string) (err error) {
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
	log, err := logging.New(errw, logLevel, logFormat)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	step("starting a coordinator on 127.0.0.1 (data in %s)", dir)
	srv, err := coordinator.New(coordinator.Options{DataDir: filepath.Join(dir, "coordinator"), Logger: log.With("proc", "coordinator"), JobRetry: 2 * time.Second})
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

	op, err := newDemoOperator(ctx, filepath.Join(dir, "operator"), admin)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	step("operator %q made an Ed25519 key on her own machine (fingerprint %s, encrypted at rest); the coordinator never sees it",
		op.key.Name(), keyfile.Fingerprint(op.key.PublicKey()))
	step("she signed the roster's genesis %s: pairing codes carry it, each device pins it and believes only entries she signed", op.genesis.String()[:16])

	names := []string{"phone", "laptop", "server"}
	// How many pre-parameter sets each device makes: one per key or
	// reshare it takes part in.
	sets := map[string]int{"phone": 2, "laptop": 2, "server": 1, "tablet": 1}
	devices := map[string]*demoDevice{}
	defer func() {
		for _, d := range devices {
			d.cancel()
			<-d.done
		}
	}()
	stopDevice := func(name string) error {
		devices[name].cancel()
		<-devices[name].done
		delete(devices, name)
		return waitOffline(ctx, admin, name)
	}
	pair := func(i int, name string) error {
		// The operator's mpcctl makes the code: the coordinator gets only a
		// key derived from its secret, never the secret nor the SAS.
		code, secret, err := op.pairingCode(ctx, name, srv.Fingerprint())
		if err != nil {
			return err
		}
		var fixtures string
		if testPreparams != "" {
			fixtures = filepath.Join(testPreparams, fmt.Sprintf("TEST-ONLY-set-%d.json", i+1))
		}
		d, sas, err := startDemoDevice(ctx, filepath.Join(dir, name), name, code, sets[name], fixtures, log.With("proc", name))
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
		var pending *mpcv1.Device
		for _, dv := range list.GetDevices() {
			if dv.GetName() == name && dv.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
				pending = dv
			}
		}
		if pending == nil {
			return fmt.Errorf("device %s is not waiting for approval", name)
		}
		// The operator computes the SAS of the keys she is about to sign,
		// from the code's secret; the device shows its own.
		if want := pairing.SAS(secret, pending.GetIdentityPublicKey(), pending.GetEncryptionPublicKey()); want != sas {
			return fmt.Errorf("device %s shows %s but the keys the coordinator lists give %s", name, sas, want)
		}
		h, err := op.approve(ctx, pending)
		if err != nil {
			return err
		}
		step("paired %q with a one-time code; the device and %s's own computation both show %s; she signed it onto the roster (entry %d)", name, op.key.Name(), sas, h)
		return nil
	}
	for i, name := range names {
		if err := pair(i, name); err != nil {
			return err
		}
	}
	if err := waitOnline(ctx, admin, names); err != nil {
		return err
	}
	step("all three devices are connected")
	step("each device is generating fresh pre-parameters (Paillier safe primes); this can take a minute or two")
	members, err := op.idsOf(ctx, names...)
	if err != nil {
		return err
	}
	keygen, err := op.ceremony(ctx, roster.CeremonyKeygen, time.Hour, func(c *roster.Ceremony) {
		c.Curve, c.Threshold, c.Committee = roster.CurveSecp256k1, 1, members
	})
	if err != nil {
		return err
	}
	step("%s signed the keygen ceremony (2-of-3 on phone, laptop, server); each device checks it before it joins", op.key.Name())
	start := time.Now()
	stop := showPreparing(ctx, admin, names, errw)
	created, err := admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: names, Authorization: keygen})
	stop()
	if err != nil {
		return err
	}
	key := created.GetKey()
	step("created a 2-of-3 key %s in %s", key.GetId(), time.Since(start).Round(time.Second))
	step("public key %x, held by %s", key.GetPublicKey(), strings.Join(holderNames(key), ", "))

	// The wallet backend's own key (in production: a KMS or HSM key, any
	// crypto.Signer); the operator registers it on the roster for this key.
	_, walletKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	walletID, err := op.addRequester(ctx, "wallet", key.GetId(), walletKey)
	if err != nil {
		return fmt.Errorf("requester: %w", err)
	}
	wallet, err := signclient.New(signerConn, walletKey)
	if err != nil {
		return err
	}
	step("%s registered the wallet backend's requester key %s on the roster, for key %s only: devices sign only what it signed", op.key.Name(), walletID[:12], key.GetId())
	unsigned := sha256.Sum256([]byte("asked by the coordinator alone"))
	if _, err := signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: unsigned[:]}); err == nil {
		return errors.New("an unsigned Sign request was accepted under a roster")
	} else {
		step("an unsigned Sign call is refused: %s", status.Convert(err).Message())
	}

	sign := func(msg string) error {
		digest := sha256.Sum256([]byte(msg))
		t0 := time.Now()
		resp, err := wallet.SignDigest(ctx, key.GetId(), digest[:], "")
		if err != nil {
			return err
		}
		if err := verifyIndependently(key.GetPublicKey(), digest[:], resp); err != nil {
			return err
		}
		step("signed sha256(%q) with %s in %s (request signed by the wallet's key, verified by each device)", msg, strings.Join(resp.GetSigners(), " + "), time.Since(t0).Round(time.Millisecond))
		step("  r||s||v %x", resp.GetSignatureRsv())
		step("  verified against public key %x: the DER signature checks, and v recovers the key", resp.GetPublicKey())
		return nil
	}
	if err := sign("hello from the mpcsign demo"); err != nil {
		return err
	}
	step("the server is lost (stopping it)")
	if err := stopDevice("server"); err != nil {
		return err
	}
	if err := sign("signed while the server is gone"); err != nil {
		return err
	}

	step("pairing a new device to replace the server")
	if err := pair(3, "tablet"); err != nil {
		return err
	}
	if err := waitOnline(ctx, admin, []string{"tablet"}); err != nil {
		return err
	}
	step("revoking the server: its key is reshared to phone, laptop and tablet (same public key)")
	var serverID string
	if list, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); err == nil {
		for _, dv := range list.GetDevices() {
			if dv.GetName() == "server" {
				serverID = dv.GetId()
			}
		}
	}
	revoke, err := op.revoke(ctx, serverID, "lost")
	if err != nil {
		return err
	}
	stay, err := op.idsOf(ctx, "phone", "laptop")
	if err != nil {
		return err
	}
	next, err := op.idsOf(ctx, "phone", "laptop", "tablet")
	if err != nil {
		return err
	}
	plan, err := op.ceremony(ctx, roster.CeremonyReshare, 7*24*time.Hour, func(c *roster.Ceremony) {
		c.KeyID, c.Curve, c.Epoch, c.Threshold, c.Committee = key.GetId(), roster.CurveSecp256k1, key.GetEpoch(), 1, stay
		c.NewThreshold, c.NewCommittee, c.Reason = 1, next, "revoke server"
	})
	if err != nil {
		return err
	}
	rv, err := admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server", ReplaceWith: "tablet", RosterEntry: coordinator.EntryProto(revoke), Plans: []*mpcv1.Authorization{plan}})
	if err != nil {
		return err
	}
	step("  the revocation is %s's signed roster entry, with her signed plan for the key (phone, laptop -> phone, laptop, tablet); every device verifies both", op.key.Name())
	var keys []string
	for _, j := range rv.GetJobs() {
		keys = append(keys, j.GetKeyId())
	}
	t0 := time.Now()
	finished, jobs, err := followJobs(ctx, admin, out, keys)
	if err != nil {
		return err
	}
	if !finished || len(jobs) != 1 || jobs[0].GetState() != mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE {
		return fmt.Errorf("the reshare after the revocation did not finish: %v", jobs)
	}
	got, err := admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key.GetId()})
	if err != nil {
		return err
	}
	if !bytes.Equal(got.GetKey().GetPublicKey(), key.GetPublicKey()) {
		return errors.New("the public key changed in the reshare")
	}
	key = got.GetKey()
	step("reshared in %s: key %s is now at epoch %d, held by %s; public key unchanged",
		time.Since(t0).Round(time.Second), key.GetId(), key.GetEpoch(), strings.Join(holderNames(key), ", "))
	if r := key.GetLastReshare(); r != nil && len(r.GetTestSignature()) > 0 {
		step("  the new holders attested their pending shares, which signed a test digest before the commit; the old holders erased only on that certificate (%s)", strings.Join(r.GetNewCommittee(), ", "))
	}
	if err := sign("signed after the reshare"); err != nil {
		return err
	}
	step("stopping the laptop: the phone and the new tablet sign together")
	if err := stopDevice("laptop"); err != nil {
		return err
	}
	if err := sign("signed by the phone and the new tablet"); err != nil {
		return err
	}
	step("stopping the phone too: one device alone cannot sign")
	if err := stopDevice("phone"); err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("this must fail"))
	_, err = wallet.SignDigest(ctx, key.GetId(), digest[:], "")
	if err == nil {
		return errors.New("signing with one device of a 2-of-3 key succeeded")
	}
	st := status.Convert(err)
	step("refused as expected: %s: %s", st.Code(), st.Message())
	step("demo finished: every signature verified under the same public key")
	return nil
}

func startDemoDevice(ctx context.Context, dir, name, code string, sets int, fixtures string, log *slog.Logger) (d *demoDevice, sas string, err error) {
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
	// Each device generates the fresh sets the demo needs and then stops,
	// leaving the cores to the signing that follows.
	var made atomic.Int32
	generate := func(ctx context.Context) (*preparams.Set, error) {
		if int(made.Load()) >= sets || fixtures != "" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		s, err := preparams.Generate(ctx, 0)
		if err == nil {
			made.Add(1)
		}
		return s, err
	}
	a, err := party.New(party.Options{Store: ks, Logger: log, PoolTarget: sets, Generate: generate})
	if err != nil {
		ks.Close()
		return nil, "", err
	}
	if fixtures != "" {
		if err := addTestFixtures(a, fixtures, log); err != nil {
			ks.Close()
			return nil, "", err
		}
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

// addTestFixtures puts TEST-ONLY pre-parameters into a demo device's pool
// (the hidden --insecure-test-preparams flag, for the demo's own test).
func addTestFixtures(a *party.Agent, path string, log *slog.Logger) error {
	log.Warn("INSECURE: using TEST-ONLY pre-parameters from a public fixture file", "file", path)
	_, err := party.ImportTestFixtures(a, path)
	return err
}
