package coordinator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"regexp"
	"time"

	"google.golang.org/grpc"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/relay"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/linkio"
	"github.com/mpcsign/mpcsign/internal/pairing"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const handshakeTimeout = 10 * time.Second

// maxRefusalsPerLink bounds the refusals one connection puts on the audit
// trail (a KeySync of many keys can be refused key by key).
const maxRefusalsPerLink = 1024

// MaxPairingAttempts is how many wrong secrets burn a pairing code.
const MaxPairingAttempts = 3

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Enroll registers a device with a one-time pairing code.
func (s *Server) Enroll(ctx context.Context, req *mpcv1.EnrollRequest) (*mpcv1.EnrollResponse, error) {
	if len(req.GetPairingId()) != pairing.IDSize {
		return nil, ErrPairingInvalid
	}
	if len(req.GetIdentityPublicKey()) != 32 || len(req.GetEncryptionPublicKey()) != 32 {
		return nil, invalidArg("identity and encryption public keys must be 32 bytes")
	}
	// A coordinator-made code: the device shows the secret. An operator-made
	// one: a MAC under the code's AuthKey, and the secret stays with the
	// device and the operator (so the SAS is theirs alone).
	var bound []byte // what the proof of possession signs
	var proof func(Pairing) bool
	idPub, encPub, mac := req.GetIdentityPublicKey(), req.GetEncryptionPublicKey(), req.GetPairingMac()
	switch {
	case len(mac) == sha256.Size && len(req.GetPairingSecret()) == 0:
		bound = mac
		proof = func(p Pairing) bool {
			return len(p.AuthKey) > 0 && hmac.Equal(pairing.EnrollMAC(p.AuthKey, idPub, encPub), mac)
		}
	case len(req.GetPairingSecret()) == pairing.SecretSize && len(mac) == 0:
		bound = pairing.SecretHash(req.GetPairingSecret())
		proof = func(p Pairing) bool {
			return len(p.SecretHash) > 0 && subtle.ConstantTimeCompare(p.SecretHash, bound) == 1
		}
	default:
		return nil, ErrPairingInvalid
	}
	if !identity.Verify(idPub, identity.EnrollTranscript(bound, idPub, encPub), req.GetProof()) {
		return nil, invalidArg("proof of possession of the identity key does not verify")
	}
	now := s.opts.Now()
	status := DevicePending
	if s.opts.AutoApprove && !s.hasRoster() || compromisedApproveAll() {
		// With a roster only an operator's signed entry activates a device.
		status = DeviceActive
	}
	// The entry is sealed with the device, in one transaction.
	entry := s.auditEntry(ctx, auditlog.Entry{Action: "device.enroll", Actor: "device:" + identity.DeviceID(req.GetIdentityPublicKey())})
	decide := enrolment(now, proof, func(p Pairing) (Device, error) {
		if err := s.nameFree(p.Name); err != nil {
			return Device{}, err
		}
		return Device{
			ID:                  identity.DeviceID(req.GetIdentityPublicKey()),
			Name:                p.Name,
			Status:              status,
			IdentityPublicKey:   req.GetIdentityPublicKey(),
			EncryptionPublicKey: req.GetEncryptionPublicKey(),
			PairedAt:            now,
			SAS:                 sasOf(req.GetPairingSecret(), idPub, encPub),
		}, nil
	})
	dev, err := s.store.EnrollDevice(req.GetPairingId(), func(p *Pairing, found bool, device func(string) (Device, bool, error)) (*Device, error) {
		d, err := decide(p, found, device)
		if d != nil {
			entry.Devices, entry.Detail = []string{d.Name}, string(d.Status)
		}
		return d, err
	}, &entry)
	if err != nil {
		return nil, err
	}
	s.metrics.audited(entry.Seq)
	s.log.Info("device enrolled", "device", dev.Name, "id", dev.ID, "status", dev.Status)
	return &mpcv1.EnrollResponse{DeviceId: dev.ID, DeviceName: dev.Name, PendingApproval: dev.Status == DevicePending}, nil
}

// nameFree checks no active device has the name.
func (s *Server) nameFree(name string) error {
	devs, err := s.store.ListDevices()
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.Name == name && d.Status != DeviceRevoked {
			return ErrNameTaken
		}
	}
	return nil
}

// enrolment is the rule of a pairing code, applied in the store's
// transaction: an unused, unexpired code that has not burned enrols the
// device mk makes once the device showed it holds the code (proof); a wrong
// proof counts against the code, and the MaxPairingAttempts-th burns it.
// The same identity key enrolling again (a device that crashed after the
// coordinator registered it and before it stored that) gets its existing
// record back; another key under an enrolled device's id is refused.
func enrolment(now time.Time, proof func(Pairing) bool, mk func(Pairing) (Device, error)) registry.Enrolment {
	return func(p *Pairing, found bool, device func(string) (Device, bool, error)) (*Device, error) {
		switch {
		case !found:
			return nil, ErrPairingInvalid
		case p.Used:
			return nil, ErrPairingUsed
		case now.After(p.ExpiresAt):
			return nil, ErrPairingExpired
		case p.Attempts >= MaxPairingAttempts:
			return nil, ErrPairingBurned
		case !proof(*p):
			p.Attempts++
			if p.Attempts >= MaxPairingAttempts {
				return nil, ErrPairingBurned
			}
			return nil, ErrPairingInvalid
		}
		d, err := mk(*p)
		if err != nil {
			return nil, err
		}
		existing, ok, err := device(d.ID)
		if err != nil {
			return nil, err
		}
		if ok && (existing.Status != DeviceActive || !bytes.Equal(existing.IdentityPublicKey, d.IdentityPublicKey)) {
			return nil, ErrDeviceExists
		}
		p.Used = true
		if ok {
			return &existing, nil
		}
		return &d, nil
	}
}

// Connect is a device's long-lived stream: challenge-response on the identity
// key, then work and relayed messages.
func (s *Server) Connect(stream grpc.BidiStreamingServer[mpcv1.ConnectRequest, mpcv1.ConnectResponse]) error {
	ctx := stream.Context()
	in, recvErr := linkio.Receive(ctx, stream.Recv)
	timeout := time.After(handshakeTimeout)
	next := func() (*mpcv1.ConnectRequest, error) {
		select {
		case m := <-in:
			return m, nil
		case err := <-recvErr:
			return nil, err
		case <-timeout:
			return nil, unavailable("handshake timed out")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	dev, hello, err := s.handshake(stream, next)
	if err != nil {
		return err
	}
	// Taken before the Welcome, so that a rotation starting in between is
	// announced on the link below.
	certChanged := s.certs.wait()
	replicasChanged := s.replicaList.wait()
	welcome := &mpcv1.Welcome{DeviceId: dev.ID, DeviceName: dev.Name, NextCertificate: s.certs.announcement(),
		CoordinatorAddresses: s.replicaList.get()}
	if err := stream.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Welcome{Welcome: welcome}}); err != nil {
		return err
	}
	l := relay.NewLink(dev)
	if err := s.register(l, hello); err != nil {
		return err
	}
	s.jobs.wake()
	s.metrics.devices(s.links.Count())
	defer func() {
		if s.links.Remove(l) {
			// Only the current link's end fails the device's sessions: a
			// link replaced by a newer one must not fail sessions of the new.
			s.sessions.LinkDown(dev.ID)
			s.metrics.deviceGone(dev.Name)
		}
		s.metrics.devices(s.links.Count())
		s.touch(dev.ID)
		s.log.Info("device disconnected", "device", dev.Name)
	}()
	// A revocation may have landed during the handshake.
	if d, err := s.store.GetDevice(dev.ID); err != nil || d.Status == DeviceRevoked {
		return ErrDeviceRevoked
	}
	s.touch(dev.ID)
	s.log.Info("device connected", "device", dev.Name)
	sendErr := linkio.Send(ctx, l.Out(), stream.Send, l.Closed())
	refusals := 0
	for {
		select {
		case m := <-in:
			s.fromDevice(ctx, l, dev, m, &refusals)
		case <-certChanged:
			certChanged = s.certs.wait()
			if next := s.certs.announcement(); next != nil {
				l.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_NextCertificate{NextCertificate: next}})
			}
		case <-replicasChanged:
			replicasChanged = s.replicaList.wait()
			if addrs := s.replicaList.get(); len(addrs) > 0 {
				l.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Replicas{Replicas: &mpcv1.ReplicaAddresses{Addresses: addrs}}})
			}
		case err := <-recvErr:
			return err
		case err := <-sendErr:
			return err
		case <-l.Closed():
			return l.Reason()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handshake reads the device's Hello, challenges it and checks its answer
// with the identity key it enrolled with.
func (s *Server) handshake(stream grpc.BidiStreamingServer[mpcv1.ConnectRequest, mpcv1.ConnectResponse], next func() (*mpcv1.ConnectRequest, error)) (Device, *mpcv1.Hello, error) {
	m, err := next()
	if err != nil {
		return Device{}, nil, err
	}
	hello := m.GetHello()
	if hello == nil {
		return Device{}, nil, invalidArg("the first message must be Hello")
	}
	dev, err := s.store.GetDevice(hello.GetDeviceId())
	if errors.Is(err, registry.ErrNotFound) {
		return Device{}, nil, ErrDeviceUnknown
	}
	if err != nil {
		return Device{}, nil, err
	}
	switch dev.Status {
	case DeviceRevoked:
		return Device{}, nil, ErrDeviceRevoked
	case DevicePending:
		return Device{}, nil, ErrDevicePending
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return Device{}, nil, err
	}
	if err := stream.Send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Challenge{Challenge: &mpcv1.Challenge{Nonce: nonce}}}); err != nil {
		return Device{}, nil, err
	}
	m, err = next()
	if err != nil {
		return Device{}, nil, err
	}
	if !s.answerValid(dev, nonce, m.GetAnswer()) {
		s.log.Warn("device failed the identity challenge", "device", dev.Name)
		return Device{}, nil, ErrIdentityCheck
	}
	return dev, hello, nil
}

// register makes l the device's link. The roster entries the device has not
// verified go first, then where each of its keys stands, before the link
// can carry a session: the device finishes the reshare steps it missed.
// Holding the roster's lock until the link is registered means no entry
// appended meanwhile is missed.
func (s *Server) register(l *relay.Link, hello *mpcv1.Hello) error {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if s.roster.state != nil {
		l.Send(s.rosterUpdateLocked(hello.GetRosterEntries()))
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.sendKeySync(l); err != nil {
		return err
	}
	s.links.Add(l)
	return nil
}

// fromDevice handles one message of a connected device: its status, a
// restored share's claim, a refusal, or a session's message.
func (s *Server) fromDevice(ctx context.Context, l *relay.Link, dev Device, m *mpcv1.ConnectRequest, refusals *int) {
	if st := m.GetStatus(); st != nil {
		s.links.StatusChanged(l, st)
		s.metrics.preparams(dev.Name, st.GetPreparamsReady())
		if st.GetPreparamsReady() > 0 {
			s.jobs.wake() // a reshare may have waited for this device's pool
		}
		return
	}
	if c := m.GetRestoreClaim(); c != nil {
		s.restoreClaim(l, c)
		return
	}
	if r := m.GetRefusal(); r != nil {
		// Bounded per connection: a device cannot flood the audit trail (an
		// honest one refuses once per roster update or key sync).
		if *refusals++; *refusals <= maxRefusalsPerLink {
			s.deviceRefused(ctx, dev, r)
		} else if *refusals == maxRefusalsPerLink+1 {
			s.log.Warn("a device keeps refusing; further refusals on this connection are not audited", "device", dev.Name)
		}
		return
	}
	s.sessions.FromParty(l, m)
}

// answerValid checks the device's signature over the connect transcript. The
// transcript names the certificate the device saw; any certificate this
// coordinator may have presented is accepted (during a rotation, the current
// and the next one, and the one served before a switch-over).
func (s *Server) answerValid(dev Device, nonce []byte, ans *mpcv1.ChallengeAnswer) bool {
	if ans == nil {
		return false
	}
	for _, fp := range s.certs.accepted() {
		if identity.Verify(dev.IdentityPublicKey, identity.ConnectTranscript(nonce, dev.ID, fp), ans.GetSignature()) {
			return true
		}
	}
	return false
}

func (s *Server) touch(deviceID string) {
	now := s.opts.Now()
	if _, err := s.store.UpdateDevice(deviceID, func(d *Device) error { d.LastSeen = now; return nil }, nil); err != nil {
		s.log.Warn("could not record last-seen time", "device", deviceID, "err", err)
	}
}

// sasOf is the SAS the coordinator can show for a coordinator-made code;
// for an operator-made one it knows no secret, and only the operator's
// mpcctl and the device can compute it.
func sasOf(secret, idPub, encPub []byte) string {
	if len(secret) == 0 {
		return ""
	}
	return pairing.SAS(secret, idPub, encPub)
}
