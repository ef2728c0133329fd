package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// streamHandshakeTimeout bounds one device's dial and handshake (a hang
// guard).
const streamHandshakeTimeout = time.Minute

// enrolDevices writes the fleet into the coordinator's Badger store in dir
// before the coordinator starts, with the store writes of an enrolment: a
// pairing code, then the device enrolled with it (active, as an approved
// device is). Enrolling through the API would list every device for each
// one: quadratic, and not what is measured.
func enrolDevices(ctx context.Context, dir string, fl *fleet, workers int) error {
	st, err := registry.OpenBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers) // concurrent commits share Badger's fsyncs
	expires := time.Now().Add(time.Hour)
	for i := range fl.devs {
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var id [pairing.IDSize]byte
			var secret [pairing.SecretSize]byte
			if _, err := rand.Read(id[:]); err != nil {
				return err
			}
			if _, err := rand.Read(secret[:]); err != nil {
				return err
			}
			d := fl.devs[i]
			if err := st.CreatePairing(id[:], registry.Pairing{Name: d.Name, SecretHash: pairing.SecretHash(secret[:]), ExpiresAt: expires}, nil); err != nil {
				return fmt.Errorf("pairing code of %s: %w", d.Name, err)
			}
			_, err := st.EnrollDevice(id[:], func(p *registry.Pairing, found bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
				if !found {
					return nil, errors.New("the pairing code is gone")
				}
				p.Used = true
				return &d, nil
			}, nil)
			if err != nil {
				return fmt.Errorf("enrol %s: %w", d.Name, err)
			}
			return nil
		})
	}
	err = g.Wait()
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// streamSet is the open device streams, each on its own TLS connection as
// a device's is, with one goroutine reading it.
type streamSet struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []*grpc.ClientConn
	opened  atomic.Int64
	failed  atomic.Int64
	ended   atomic.Int64 // streams that ended while held
	errOnce sync.Once
	err     error // the first failure, as a sample
}

// openStreams connects every device of the fleet to the coordinator at
// addr (pinned to fingerprint), dialers at a time, and keeps the streams
// open until close.
func openStreams(ctx context.Context, addr, fingerprint string, fl *fleet, dialers int) *streamSet {
	s := &streamSet{}
	s.ctx, s.cancel = context.WithCancel(ctx)
	sem := make(chan struct{}, dialers)
	var opening sync.WaitGroup
	for i := range fl.devs {
		sem <- struct{}{}
		opening.Add(1)
		go func() {
			defer opening.Done()
			defer func() { <-sem }()
			if err := s.open(addr, fingerprint, fl.ids[i], fl.devs[i].ID); err != nil {
				s.failed.Add(1)
				s.errOnce.Do(func() { s.err = fmt.Errorf("%s: %w", fl.devs[i].Name, err) })
				return
			}
			s.opened.Add(1)
		}()
	}
	opening.Wait()
	return s
}

// open dials, runs a device's handshake (Hello, the challenge signed with
// the identity key, Welcome), reports a pre-parameter pool as a device
// does, and leaves a goroutine reading the stream.
func (s *streamSet) open(addr, fingerprint string, id *identity.Identity, deviceID string) error {
	conn, err := dialDevice(addr, fingerprint)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	stream, err := mpcv1.NewPartyLinkServiceClient(conn).Connect(s.ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- handshake(stream, id, deviceID, fingerprint) }()
	select {
	case err = <-done:
	case <-time.After(streamHandshakeTimeout):
		err = fmt.Errorf("no welcome within %s", streamHandshakeTimeout)
	}
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			if _, err := stream.Recv(); err != nil {
				if s.ctx.Err() == nil {
					s.ended.Add(1)
				}
				return
			}
		}
	}()
	return nil
}

// dialDevice makes a device agent's connection to the coordinator: TLS
// pinned to its certificate, the agent's keepalive (party/link.go).
func dialDevice(addr, fingerprint string) (*grpc.ClientConn, error) {
	tlsCfg, err := tlspin.ClientConfig(fingerprint)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}))
}

// connectUntilKeySync connects one device and waits for its first KeySync:
// the coordinator tells a device where its keys stand before its link
// carries any session. It returns the keys of that KeySync. A device that
// holds no key gets none: it waits until ctx ends.
func connectUntilKeySync(ctx context.Context, addr, fingerprint string, id *identity.Identity, deviceID string) (int, error) {
	conn, err := dialDevice(addr, fingerprint)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := mpcv1.NewPartyLinkServiceClient(conn).Connect(ctx)
	if err != nil {
		return 0, err
	}
	if err := handshake(stream, id, deviceID, fingerprint); err != nil {
		return 0, err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return 0, err
		}
		if ks := m.GetKeySync(); ks != nil {
			return len(ks.GetKeys()), nil
		}
	}
}

type connectClient = grpc.BidiStreamingClient[mpcv1.ConnectRequest, mpcv1.ConnectResponse]

// handshake is a device's side of the connect handshake (party/link.go),
// then its first status report.
func handshake(stream connectClient, id *identity.Identity, deviceID, fingerprint string) error {
	if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Hello{Hello: &mpcv1.Hello{DeviceId: deviceID}}}); err != nil {
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	ch := m.GetChallenge()
	if ch == nil || len(ch.GetNonce()) != 32 {
		return errors.New("the coordinator sent no valid challenge")
	}
	sig := id.Sign(identity.ConnectTranscript(ch.GetNonce(), deviceID, fingerprint))
	if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Answer{Answer: &mpcv1.ChallengeAnswer{Signature: sig}}}); err != nil {
		return err
	}
	if m, err = stream.Recv(); err != nil {
		return err
	}
	if m.GetWelcome() == nil {
		return errors.New("the coordinator did not welcome the device")
	}
	return stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Status{Status: &mpcv1.PartyStatus{PreparamsReady: 2, PreparamsTarget: 2}}})
}

// close ends every stream and connection.
func (s *streamSet) close() {
	s.cancel()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}
