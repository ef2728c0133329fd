package backup

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// FormatVersion is the backup format version this package writes.
	FormatVersion = 1
	// MaxFileSize bounds a backup file.
	MaxFileSize = 1 << 20
	// MaxPlaintextSize bounds the sealed share. A tss-lib ECDSA share with
	// maxHolders parties encodes to about 400 KB of JSON.
	MaxPlaintextSize = 640 << 10

	magicPrefix   = "mpcsign-share-backup v"
	cipherName    = "xchacha20poly1305"
	maxHeaderSize = 32 << 10
	// maxHolders matches guard.MaxParties (a test checks it).
	maxHolders = 128
	maxIDLen   = 128
	pubKeySize = 33 // compressed secp256k1 point
	nonceSize  = chacha20poly1305.NonceSizeX
	checkSize  = 16
	tagSize    = chacha20poly1305.Overhead
)

// Header is the public part of a backup: stored in clear in the file and
// authenticated as the AEAD's associated data.
type Header struct {
	// Version is the format version (0 in Seal means FormatVersion).
	Version int
	// KeyID and Epoch name the share; DeviceID is the device that held it.
	KeyID    string
	Epoch    uint64
	DeviceID string
	// PublicKey is the key's compressed public key (33 bytes).
	PublicKey []byte
	// Threshold and Holders are the epoch's committee (device ids, in tss-lib
	// party order); DeviceID is one of them.
	Threshold int
	Holders   []string
	// CreatedAt is when the backup was made (UTC, whole seconds).
	CreatedAt time.Time
}

// wireHeader is the JSON of the second line of a file.
type wireHeader struct {
	Version   int       `json:"version"`
	KeyID     string    `json:"key_id"`
	Epoch     uint64    `json:"epoch"`
	DeviceID  string    `json:"device_id"`
	PublicKey string    `json:"public_key"` // hex
	Threshold int       `json:"threshold"`
	Holders   []string  `json:"holders"`
	CreatedAt time.Time `json:"created_at"`
	Cipher    string    `json:"cipher"`
	Nonce     string    `json:"nonce"`     // hex
	KeyCheck  string    `json:"key_check"` // hex
}

// file is a parsed backup file.
type file struct {
	header     Header
	nonce      []byte
	keyCheck   []byte
	ad         []byte // magic line + "\n" + header line
	ciphertext []byte
}

// ReadHeader parses a backup file without the words and returns its header.
// It checks the whole format (so that Open fails on it only for the words or
// the authentication) but authenticates nothing: use it to show what a file
// is and to refuse a wrong key or retired epoch before asking for the words,
// and check the Header that Open returns again. It never panics.
func ReadHeader(b []byte) (Header, error) {
	f, err := parse(b)
	if err != nil {
		return Header{}, err
	}
	return f.header, nil
}

func damaged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrTampered, fmt.Sprintf(format, a...))
}

// nextLine splits b at the first "\n" (dropping a "\r" before it). A last
// line without "\n" is accepted.
func nextLine(b []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(b, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

func parse(b []byte) (*file, error) {
	if !bytes.HasPrefix(b, []byte(magicPrefix)) {
		return nil, ErrNotBackup
	}
	if len(b) > MaxFileSize {
		return nil, damaged("the file is larger than %d bytes", MaxFileSize)
	}
	magic, rest := nextLine(b)
	v := string(magic[len(magicPrefix):])
	n, err := strconv.Atoi(v)
	if err != nil || len(v) > 4 || strconv.Itoa(n) != v {
		return nil, damaged("bad first line")
	}
	if n != FormatVersion {
		return nil, fmt.Errorf("%w: the file is format version %d, this mpcsign reads version %d (use a newer mpcsign)",
			ErrUnsupportedVersion, n, FormatVersion)
	}
	hdr, rest := nextLine(rest)
	if len(hdr) > maxHeaderSize {
		return nil, damaged("the header is larger than %d bytes", maxHeaderSize)
	}
	body, rest := nextLine(rest)
	if len(rest) != 0 {
		return nil, damaged("extra data after the third line")
	}
	f := &file{}
	if err := f.decodeHeader(hdr); err != nil {
		return nil, err
	}
	if len(body) > base64.StdEncoding.EncodedLen(MaxPlaintextSize+tagSize) {
		return nil, damaged("the content is larger than %d bytes", MaxPlaintextSize)
	}
	if bytes.ContainsAny(body, "\r\n") { // the decoder would skip them
		return nil, damaged("bad content line")
	}
	ct := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	m, err := base64.StdEncoding.Strict().Decode(ct, body)
	if err != nil || m <= tagSize {
		return nil, damaged("bad content line")
	}
	f.ciphertext = ct[:m]
	f.ad = make([]byte, 0, len(magic)+1+len(hdr))
	f.ad = append(append(append(f.ad, magic...), '\n'), hdr...)
	return f, nil
}

func (f *file) decodeHeader(line []byte) error {
	var w wireHeader
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return damaged("bad header")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return damaged("extra data after the header")
	}
	if w.Cipher != cipherName {
		return damaged("unknown cipher")
	}
	var err error
	if f.nonce, err = hexField(w.Nonce, nonceSize); err != nil {
		return damaged("bad nonce")
	}
	if f.keyCheck, err = hexField(w.KeyCheck, checkSize); err != nil {
		return damaged("bad key check")
	}
	pub, err := hexField(w.PublicKey, pubKeySize)
	if err != nil {
		return damaged("bad public key")
	}
	f.header = Header{
		Version:   w.Version,
		KeyID:     w.KeyID,
		Epoch:     w.Epoch,
		DeviceID:  w.DeviceID,
		PublicKey: pub,
		Threshold: w.Threshold,
		Holders:   w.Holders,
		CreatedAt: w.CreatedAt,
	}
	if err := f.header.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return nil
}

// hexField decodes lower-case hex of exactly size bytes.
func hexField(s string, size int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size || hex.EncodeToString(b) != s {
		return nil, errors.New("bad hex")
	}
	return b, nil
}

// encodeHeader returns the header line of a file.
func encodeHeader(h Header, nonce, keyCheck []byte) ([]byte, error) {
	return json.Marshal(wireHeader{
		Version:   h.Version,
		KeyID:     h.KeyID,
		Epoch:     h.Epoch,
		DeviceID:  h.DeviceID,
		PublicKey: hex.EncodeToString(h.PublicKey),
		Threshold: h.Threshold,
		Holders:   h.Holders,
		CreatedAt: h.CreatedAt,
		Cipher:    cipherName,
		Nonce:     hex.EncodeToString(nonce),
		KeyCheck:  hex.EncodeToString(keyCheck),
	})
}

// validate checks a header's fields; errors name the field.
func (h Header) validate() error {
	if h.Version != FormatVersion {
		return fmt.Errorf("header: version %d", h.Version)
	}
	if !validID(h.KeyID) {
		return errors.New("header: bad key id")
	}
	if !validID(h.DeviceID) {
		return errors.New("header: bad device id")
	}
	if len(h.PublicKey) != pubKeySize || (h.PublicKey[0] != 2 && h.PublicKey[0] != 3) {
		return errors.New("header: the public key is not a compressed point")
	}
	if len(h.Holders) < 2 || len(h.Holders) > maxHolders {
		return fmt.Errorf("header: %d holders (want 2 to %d)", len(h.Holders), maxHolders)
	}
	seen := make(map[string]bool, len(h.Holders))
	for _, d := range h.Holders {
		if !validID(d) || seen[d] {
			return errors.New("header: bad or repeated holder id")
		}
		seen[d] = true
	}
	if !seen[h.DeviceID] {
		return errors.New("header: the device is not one of the holders")
	}
	if h.Threshold < 1 || h.Threshold >= len(h.Holders) {
		return fmt.Errorf("header: threshold %d for %d holders", h.Threshold, len(h.Holders))
	}
	if h.CreatedAt.IsZero() || h.CreatedAt.Year() > 9999 {
		return errors.New("header: bad creation time")
	}
	return nil
}

// validID accepts 1 to maxIDLen characters of [A-Za-z0-9._:-] (key ids and
// device ids are hex with a letter prefix).
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
