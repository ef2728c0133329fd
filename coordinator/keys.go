package coordinator

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/address"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/hd"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func curveProto(k Key) mpcv1.Curve {
	if k.IsEd25519() {
		return mpcv1.Curve_CURVE_ED25519
	}
	return mpcv1.Curve_CURVE_SECP256K1
}

// addresses of a public key of the key's curve. A key that has none (an
// unexpected encoding) shows none rather than failing the whole listing.
func addresses(curve string, pub []byte) *mpcv1.Addresses {
	if curve == curveEd25519 {
		return &mpcv1.Addresses{Ed25519PublicKey: hex.EncodeToString(pub)}
	}
	a := &mpcv1.Addresses{}
	if eth, err := address.Ethereum(pub); err == nil {
		a.Ethereum = eth
	}
	if btc, err := address.BitcoinP2WPKH(pub, "mainnet"); err == nil {
		a.BitcoinP2Wpkh = btc
	}
	return a
}

// derive is the public key and addresses of the key's child at path.
func derive(k Key, path string) (*mpcv1.DerivedKey, error) {
	if k.IsEd25519() {
		return nil, invalidArg("derivation paths are for secp256k1 keys; key %s is Ed25519", k.ID)
	}
	if len(k.ChainCode) != 32 {
		return nil, failedPrecondition("key %s has no chain code (it was made before derivation existed)", k.ID)
	}
	steps, err := hd.ParsePath(path)
	if err != nil {
		return nil, invalidArg("path: %v", err)
	}
	d, err := hd.Derive(k.PublicKey, k.ChainCode, steps)
	if err != nil {
		return nil, invalidArg("path %s: %v", path, err)
	}
	return &mpcv1.DerivedKey{Path: hd.FormatPath(steps), PublicKey: d.PublicKey, Addresses: addresses(k.Curve, d.PublicKey)}, nil
}

// SetDerivationOnly marks a secp256k1 key so that its root key never signs
// directly, or lifts the mark.
func (s *Server) SetDerivationOnly(ctx context.Context, req *mpcv1.SetDerivationOnlyRequest) (*mpcv1.SetDerivationOnlyResponse, error) {
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	on := req.GetDerivationOnly()
	if on && k.IsEd25519() {
		return nil, invalidArg("key %s is Ed25519: it has no derivation, so it cannot be derivation-only", k.ID)
	}
	if on && len(k.ChainCode) != 32 {
		return nil, failedPrecondition("key %s has no chain code (it was made before derivation existed): it could never sign again", k.ID)
	}
	entry := auditlog.Entry{Action: "key.derivation-only", KeyID: k.ID, Detail: fmt.Sprintf("derivation-only %t", on)}
	k, err = s.updateKeyAudited(ctx, k.ID, func(k *Key) error { k.DerivationOnly = on; return nil }, &entry)
	if err != nil {
		return nil, err
	}
	return &mpcv1.SetDerivationOnlyResponse{Key: s.keyProto(k)}, nil
}

// ListKeys lists keys, a page at a time, in id order.
func (s *Server) ListKeys(ctx context.Context, req *mpcv1.ListKeysRequest) (*mpcv1.ListKeysResponse, error) {
	size, err := pageSize(req.GetPageSize(), 0, defaultPageSize, maxPageSize)
	if err != nil {
		return nil, err
	}
	tok, err := parsePageToken(req.GetPageToken(), listKeys)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeysAfter(string(tok.After), size+1)
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ListKeysResponse{}
	if len(keys) > size {
		keys = keys[:size]
		if out.NextPageToken, err = (pageToken{List: listKeys, After: []byte(keys[size-1].ID)}).encode(); err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		out.Keys = append(out.Keys, s.keyProto(k))
	}
	return out, nil
}

// GetKey returns one key, and its child at a path on request.
func (s *Server) GetKey(ctx context.Context, req *mpcv1.GetKeyRequest) (*mpcv1.GetKeyResponse, error) {
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	out := &mpcv1.GetKeyResponse{Key: s.keyProto(k)}
	if req.GetPath() != "" {
		if out.Derived, err = derive(k, req.GetPath()); err != nil {
			return nil, err
		}
	}
	return compromisedGetKey(s, req, out), nil
}

func (s *Server) getKey(id string) (Key, error) {
	if id == "" || len(id) > 64 {
		return Key{}, invalidArg("key_id is required (at most 64 characters)")
	}
	k, err := s.store.GetKey(id)
	if errors.Is(err, registry.ErrNotFound) {
		return Key{}, ErrKeyNotFound
	}
	return k, err
}

func (s *Server) keyProto(k Key) *mpcv1.Key {
	p := &mpcv1.Key{
		Id:             k.ID,
		Curve:          curveProto(k),
		Threshold:      uint32(k.Threshold),
		PublicKey:      k.PublicKey,
		Epoch:          k.Epoch,
		CreatedAt:      timestamppb.New(k.CreatedAt),
		LastReshare:    reportProto(k.LastReshare),
		LastDrill:      reportProto(lastDrill(k)),
		ChainCode:      k.ChainCode,
		DerivationOnly: k.DerivationOnly,
		Addresses:      addresses(k.Curve, k.PublicKey),
		Attestations:   attProtos(k.Attestations),
	}
	for _, h := range k.Holders {
		name := h
		if d, err := s.store.GetDevice(h); err == nil {
			name = d.Name
		}
		p.Holders = append(p.Holders, &mpcv1.KeyHolder{DeviceId: h, DeviceName: name})
	}
	return p
}
