package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mpcsign/mpcsign/internal/readlimit"
	"github.com/mpcsign/mpcsign/keystore/seal"
)

// Format is the value of the "format" field of a key file.
const Format = "mpcsign-keyfile-v1"

// MaxFileSize bounds how much of a key file is read.
const MaxFileSize = 64 << 10

const adDomain = "mpcsign/v1/keyfile\x00"

// Errors. seal.ErrWrongPassphrase and seal.ErrTampered are used as
// they are (wrapped with the path).
var (
	ErrNotFound  = errors.New("keyfile: no key file")
	ErrExists    = errors.New("keyfile: key file already exists")
	ErrMalformed = errors.New("keyfile: not a valid key file")
)

// fileJSON is the file's JSON object.
type fileJSON struct {
	Format    string `json:"format"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"`
	Sealed    string `json:"sealed"`
}

// public is the decoded, checked public part of a file.
type public struct {
	kind, name, algorithm string
	pub                   ed25519.PublicKey
	sealed                []byte
}

// sealAD is the associated data of the sealed blob (see the package doc).
func sealAD(kind, name, algorithm string, pub []byte) []byte {
	var ad []byte
	ad = append(ad, adDomain...)
	for _, f := range [][]byte{[]byte(Format), []byte(kind), []byte(name), []byte(algorithm), pub} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

// Write seals k under pass (Argon2id with kdf; zero means
// seal.DefaultKDF()) and writes it to path with mode 0600. It never
// replaces an existing file (ErrExists). The directory must exist.
func Write(path string, k *Key, pass seal.Passphrase, kdf seal.KDFParams) error {
	if !k.valid() {
		return errors.New("keyfile: write: no key")
	}
	if pass.IsZero() {
		return seal.ErrNoPassphrase
	}
	if err := refuseExisting(path); err != nil {
		return err
	}
	seed := k.seed()
	defer clear(seed)
	sealed, err := seal.SealBlob(pass, kdf, sealAD(k.kind, k.name, AlgorithmEd25519, k.pub), seed)
	if err != nil {
		return fmt.Errorf("keyfile: seal %s: %w", path, err)
	}
	content, err := json.MarshalIndent(fileJSON{
		Format:    Format,
		Kind:      k.kind,
		Name:      k.name,
		Algorithm: AlgorithmEd25519,
		PublicKey: hex.EncodeToString(k.pub),
		Sealed:    base64.StdEncoding.EncodeToString(sealed),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("keyfile: encode: %w", err)
	}
	return createFile(path, append(content, '\n'))
}

func refuseExisting(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s: pass another path, or remove it if you mean to replace that key", ErrExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyfile: %w", err)
	}
	return nil
}

// createFile writes content to a new file at path, atomically and durably,
// and fails with ErrExists if path exists.
func createFile(path string, content []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		_ = os.Remove(tmpName) // after a link the target keeps the file
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	if _, err := tmp.Write(content); err != nil {
		return fmt.Errorf("keyfile: write %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("keyfile: sync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		return fmt.Errorf("keyfile: close %s: %w", tmpName, err)
	}
	tmp = nil
	// A hard link creates path atomically and only if it does not exist;
	// a rename would silently replace a file created since the check.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s: pass another path, or remove it if you mean to replace that key", ErrExists, path)
		}
		// No hard links on this filesystem: check, then rename.
		if err := refuseExisting(path); err != nil {
			return err
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("keyfile: %w", err)
		}
	}
	return syncDir(dir)
}

// syncDir makes the new directory entry durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyfile: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyfile: sync directory %s: %w", dir, err)
	}
	return nil
}

// Read opens the key file at path with pass. It returns errors wrapping
// ErrNotFound, ErrMalformed, seal.ErrNoPassphrase (empty pass),
// seal.ErrWrongPassphrase or seal.ErrTampered. Checking that the
// key is of the kind the caller expects is the caller's job.
func Read(path string, pass seal.Passphrase) (*Key, error) {
	p, err := readPublic(path)
	if err != nil {
		return nil, err
	}
	seed, err := seal.OpenBlob(pass, sealAD(p.kind, p.name, p.algorithm, p.pub), p.sealed)
	if err != nil {
		switch {
		case errors.Is(err, seal.ErrWrongPassphrase):
			return nil, fmt.Errorf("keyfile: %s: %w", path, err)
		case errors.Is(err, seal.ErrTampered):
			return nil, fmt.Errorf("keyfile: %s was altered (its public part or its sealed key does not authenticate): %w", path, err)
		}
		return nil, fmt.Errorf("keyfile: %s: %w", path, err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keyfile: %s: %w: sealed key is %d bytes, want %d", path, seal.ErrTampered, len(seed), ed25519.SeedSize)
	}
	k := newKey(p.kind, p.name, seed)
	if subtle.ConstantTimeCompare(k.pub, p.pub) != 1 {
		clear(k.sk.b[:])
		return nil, fmt.Errorf("keyfile: %s: %w: the sealed key does not match public_key", path, seal.ErrTampered)
	}
	return k, nil
}

// ReadPublic returns the public part of the key file at path, without the
// passphrase. Nothing it returns is authenticated: use it to show what a
// file is, and Read to use the key.
func ReadPublic(path string) (kind, name string, pub ed25519.PublicKey, err error) {
	p, err := readPublic(path)
	if err != nil {
		return "", "", nil, err
	}
	return p.kind, p.name, p.pub, nil
}

func readPublic(path string) (*public, error) {
	raw, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	p, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
	}
	return p, nil
}

func readLimited(path string) ([]byte, error) {
	raw, err := readlimit.File(path, MaxFileSize)
	var tooLarge *readlimit.TooLargeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w at %s: create one with `mpcctl operator init` (or pass the directory that holds it)", ErrNotFound, path)
	case errors.As(err, &tooLarge):
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, MaxFileSize)
	case err != nil:
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return raw, nil
}

// parse decodes and checks a file's content. Errors do not quote the sealed
// or public key fields.
func parse(raw []byte) (*public, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a JSON key file (%v)", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	switch {
	case f.Format != Format:
		return nil, fmt.Errorf("format %q, want %q", f.Format, Format)
	case f.Algorithm == "":
		return nil, errors.New("no algorithm")
	case f.Algorithm != AlgorithmEd25519:
		return nil, fmt.Errorf("algorithm %q is not supported by this version (only %q)", f.Algorithm, AlgorithmEd25519)
	}
	if err := checkKind(f.Kind); err != nil {
		return nil, err
	}
	if err := checkName(f.Name); err != nil {
		return nil, err
	}
	pub, err := hex.DecodeString(f.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public_key is not %d bytes of hex", ed25519.PublicKeySize)
	}
	sealed, err := base64.StdEncoding.Strict().DecodeString(f.Sealed)
	if err != nil || len(sealed) == 0 {
		return nil, errors.New("sealed is not standard base64")
	}
	return &public{kind: f.Kind, name: f.Name, algorithm: f.Algorithm, pub: pub, sealed: sealed}, nil
}
