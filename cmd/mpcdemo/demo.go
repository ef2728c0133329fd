package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/crosscheck"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/logging"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
)

// demo is one run of the story: its output, the coordinator's clients, the
// operator, the running devices, and the key once made.
type demo struct {
	out, errw   io.Writer
	dir         string
	fixtures    string // TEST-ONLY pre-parameter directory, or ""
	log         *slog.Logger
	fingerprint string
	admin       mpcv1.AdminServiceClient
	signer      mpcv1.SignerServiceClient
	signerConn  *grpc.ClientConn
	op          *demoOperator
	devices     map[string]*demoDevice
	wallet      *signclient.Client
	key         *mpcv1.Key
}

func (d *demo) step(format string, a ...any) { fmt.Fprintf(d.out, "==> "+format+"\n", a...) }

// runDemo runs the demo in dir (a new temporary directory when empty,
// removed afterwards unless keep). testPreparams, when set, is a directory
// of TEST-ONLY pre-parameter fixtures the devices use instead of generating
// their own.
func runDemo(ctx context.Context, out, errw io.Writer, dir string, keep bool, logLevel, logFormat, testPreparams string) (err error) {
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
	d := &demo{out: out, errw: errw, dir: dir, fixtures: testPreparams, log: log, devices: map[string]*demoDevice{}}
	stop, err := d.startCoordinator(ctx, cancel)
	if err != nil {
		return err
	}
	defer stop()
	defer func() {
		for _, dv := range d.devices {
			dv.cancel()
			<-dv.done
		}
	}()
	return d.story(ctx)
}

// startCoordinator starts the coordinator in this process and connects to
// it with the admin and signer tokens it wrote. The returned function
// closes the connections, then stops the coordinator (with cancel, which
// ends ctx).
func (d *demo) startCoordinator(ctx context.Context, cancel context.CancelFunc) (func(), error) {
	d.step("starting a coordinator on 127.0.0.1 (data in %s)", d.dir)
	coordDir := filepath.Join(d.dir, "coordinator")
	srv, err := coordinator.New(coordinator.Options{DataDir: coordDir, Logger: d.log.With("proc", "coordinator"), JobRetry: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, lis) }()
	closers := []func(){func() { cancel(); wg.Wait(); srv.Close() }}
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	d.fingerprint = srv.Fingerprint()
	d.step("coordinator listening on %s, certificate fingerprint %s", lis.Addr(), d.fingerprint)

	target := coordclient.Target{Dir: coordDir}
	if err := coordclient.WaitConfig(ctx, coordDir); err != nil {
		stop()
		return nil, err
	}
	adminConn, err := target.Dial("admin")
	if err != nil {
		stop()
		return nil, err
	}
	closers = append(closers, func() { adminConn.Close() })
	signerConn, err := target.Dial("signer")
	if err != nil {
		stop()
		return nil, err
	}
	closers = append(closers, func() { signerConn.Close() })
	d.admin, d.signer, d.signerConn = mpcv1.NewAdminServiceClient(adminConn), mpcv1.NewSignerServiceClient(signerConn), signerConn
	return stop, nil
}

// story is the demo itself, once the coordinator runs.
func (d *demo) story(ctx context.Context) error {
	op, err := newDemoOperator(ctx, filepath.Join(d.dir, "operator"), d.admin)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	d.op = op
	d.step("operator %q made an Ed25519 key on her own machine (fingerprint %s, encrypted at rest); the coordinator never sees it",
		op.key.Name(), keyfile.Fingerprint(op.key.PublicKey()))
	d.step("she signed the roster's genesis %s: pairing codes carry it, each device pins it and believes only entries she signed", op.genesis.String()[:16])

	names := []string{"phone", "laptop", "server"}
	for i, name := range names {
		if err := d.pair(ctx, i, name); err != nil {
			return err
		}
	}
	if err := waitOnline(ctx, d.admin, names); err != nil {
		return err
	}
	d.step("all three devices are connected")
	if err := d.createKey(ctx, names); err != nil {
		return err
	}
	if err := d.registerWallet(ctx); err != nil {
		return err
	}
	if err := d.sign(ctx, "hello from the mpcsign demo"); err != nil {
		return err
	}
	d.step("the server is lost (stopping it)")
	if err := d.stopDevice(ctx, "server"); err != nil {
		return err
	}
	if err := d.sign(ctx, "signed while the server is gone"); err != nil {
		return err
	}
	if err := d.replaceServer(ctx); err != nil {
		return err
	}
	if err := d.sign(ctx, "signed after the reshare"); err != nil {
		return err
	}
	d.step("stopping the laptop: the phone and the new tablet sign together")
	if err := d.stopDevice(ctx, "laptop"); err != nil {
		return err
	}
	if err := d.sign(ctx, "signed by the phone and the new tablet"); err != nil {
		return err
	}
	return d.oneAlone(ctx)
}

// pair pairs device i of the demo: the operator's code, the device's
// enrolment, her comparison of the short authentication strings, and her
// signature on its roster entry.
func (d *demo) pair(ctx context.Context, i int, name string) error {
	// The operator's mpcctl makes the code: the coordinator gets only a
	// key derived from its secret, never the secret nor the SAS.
	code, secret, err := d.op.pairingCode(ctx, name, d.fingerprint)
	if err != nil {
		return err
	}
	var fixtures string
	if d.fixtures != "" {
		fixtures = filepath.Join(d.fixtures, fmt.Sprintf("TEST-ONLY-set-%d.json", i+1))
	}
	dv, sas, err := startDemoDevice(ctx, filepath.Join(d.dir, name), name, code, demoSets[name], fixtures, d.log.With("proc", name))
	if err != nil {
		return fmt.Errorf("device %s: %w", name, err)
	}
	d.devices[name] = dv
	// The operator compares the string the device shows with the one the
	// coordinator lists, then approves by typing it.
	list, err := d.admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
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
	h, err := d.op.approve(ctx, pending)
	if err != nil {
		return err
	}
	d.step("paired %q with a one-time code; the device and %s's own computation both show %s; she signed it onto the roster (entry %d)", name, d.op.key.Name(), sas, h)
	return nil
}

// stopDevice stops a device and waits until the coordinator sees it gone.
func (d *demo) stopDevice(ctx context.Context, name string) error {
	d.devices[name].cancel()
	<-d.devices[name].done
	delete(d.devices, name)
	return waitOffline(ctx, d.admin, name)
}

// createKey creates the 2-of-3 key under the operator's signed ceremony.
func (d *demo) createKey(ctx context.Context, names []string) error {
	d.step("each device is generating fresh pre-parameters (Paillier safe primes); this can take a minute or two")
	members, err := d.op.idsOf(ctx, names...)
	if err != nil {
		return err
	}
	keygen, err := d.op.ceremony(ctx, roster.CeremonyKeygen, time.Hour, func(c *roster.Ceremony) {
		c.Curve, c.Threshold, c.Committee = roster.CurveSecp256k1, 1, members
	})
	if err != nil {
		return err
	}
	d.step("%s signed the keygen ceremony (2-of-3 on phone, laptop, server); each device checks it before it joins", d.op.key.Name())
	start := time.Now()
	stop := adminview.ShowPreparing(ctx, d.admin, names, d.errw)
	created, err := d.admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: names, Authorization: keygen})
	stop()
	if err != nil {
		return err
	}
	d.key = created.GetKey()
	d.step("created a 2-of-3 key %s in %s", d.key.GetId(), time.Since(start).Round(time.Second))
	d.step("public key %x, held by %s", d.key.GetPublicKey(), strings.Join(adminview.HolderNames(d.key), ", "))
	return nil
}

// registerWallet makes the wallet backend's own key (in production: a KMS
// or HSM key, any crypto.Signer), which the operator registers on the
// roster for this key, and shows that an unsigned request is refused.
func (d *demo) registerWallet(ctx context.Context) error {
	_, walletKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	walletID, err := d.op.addRequester(ctx, "wallet", d.key.GetId(), walletKey)
	if err != nil {
		return fmt.Errorf("requester: %w", err)
	}
	if d.wallet, err = signclient.New(d.signerConn, walletKey); err != nil {
		return err
	}
	d.step("%s registered the wallet backend's requester key %s on the roster, for key %s only: devices sign only what it signed", d.op.key.Name(), walletID[:12], d.key.GetId())
	unsigned := sha256.Sum256([]byte("asked by the coordinator alone"))
	if _, err := d.signer.Sign(ctx, &mpcv1.SignRequest{KeyId: d.key.GetId(), Digest: unsigned[:]}); err == nil {
		return errors.New("an unsigned Sign request was accepted under a roster")
	} else {
		d.step("an unsigned Sign call is refused: %s", status.Convert(err).Message())
	}
	return nil
}

// sign signs sha256(msg) as the wallet and verifies the signature
// independently.
func (d *demo) sign(ctx context.Context, msg string) error {
	digest := sha256.Sum256([]byte(msg))
	t0 := time.Now()
	resp, err := d.wallet.SignDigest(ctx, d.key.GetId(), digest[:], "")
	if err != nil {
		return err
	}
	if err := crosscheck.ECDSA(d.key.GetPublicKey(), digest[:], resp); err != nil {
		return err
	}
	d.step("signed sha256(%q) with %s in %s (request signed by the wallet's key, verified by each device)", msg, strings.Join(resp.GetSigners(), " + "), time.Since(t0).Round(time.Millisecond))
	d.step("  r||s||v %x", resp.GetSignatureRsv())
	d.step("  verified against public key %x: the DER signature checks, and v recovers the key", resp.GetPublicKey())
	return nil
}

// oneAlone stops the phone too: the tablet alone cannot sign.
func (d *demo) oneAlone(ctx context.Context) error {
	d.step("stopping the phone too: one device alone cannot sign")
	if err := d.stopDevice(ctx, "phone"); err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("this must fail"))
	_, err := d.wallet.SignDigest(ctx, d.key.GetId(), digest[:], "")
	if err == nil {
		return errors.New("signing with one device of a 2-of-3 key succeeded")
	}
	st := status.Convert(err)
	d.step("refused as expected: %s: %s", st.Code(), st.Message())
	d.step("demo finished: every signature verified under the same public key")
	return nil
}
