package tlspin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A certificate rotation keeps the coordinator's certificates as files in its
// data directory:
//
//	tls.crt, tls.key            the current certificate
//	tls.next.crt, tls.next.key  the next one, while a rotation is pending
//	tls.next.json               its fingerprint and switch-over time
//
// tls.next.json is written last and removed last, so it alone says whether a
// rotation is pending: next files without it are the leftovers of an
// interrupted Rotate and are ignored (and overwritten by the next Rotate).
const (
	certFile     = "tls.crt"
	keyFile      = "tls.key"
	nextCertFile = "tls.next.crt"
	nextKeyFile  = "tls.next.key"
	nextInfoFile = "tls.next.json"
)

// ErrRotationPending reports a Rotate while another rotation waits for its
// switch-over time.
var ErrRotationPending = errors.New("tlspin: a certificate rotation is already pending")

// Certs are a coordinator's certificates at one instant.
type Certs struct {
	Current tls.Certificate
	// Next is the certificate that takes over at SwitchAt; nil when no
	// rotation is pending.
	Next     *tls.Certificate
	SwitchAt time.Time
}

// CurrentFingerprint is the fingerprint of the certificate served now.
func (c Certs) CurrentFingerprint() string { return Fingerprint(c.Current.Certificate[0]) }

// NextFingerprint is the next certificate's fingerprint, or "".
func (c Certs) NextFingerprint() string {
	if c.Next == nil {
		return ""
	}
	return Fingerprint(c.Next.Certificate[0])
}

// nextInfo is tls.next.json.
type nextInfo struct {
	Fingerprint string    `json:"fingerprint"`
	SwitchAt    time.Time `json:"switch_at"`
}

func readNextInfo(dir string) (*nextInfo, error) {
	path := filepath.Join(dir, nextInfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var n nextInfo
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("tlspin: %s: %v", path, err)
	}
	if _, err := ParseFingerprint(n.Fingerprint); err != nil || n.SwitchAt.IsZero() {
		return nil, fmt.Errorf("tlspin: %s: needs a fingerprint and a switch_at time", path)
	}
	return &n, nil
}

// existing returns dir/name when that file exists, else dir/fallback: a
// promotion interrupted between its two renames has moved one file only.
func existing(dir, name, fallback string) string {
	if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
		return filepath.Join(dir, name)
	}
	return filepath.Join(dir, fallback)
}

// Load reads the certificates in dir as they stand at now: a next
// certificate whose switch-over time has come is the current one. It writes
// nothing (see Promote).
func Load(dir string, now time.Time) (Certs, error) {
	info, err := readNextInfo(dir)
	if err != nil {
		return Certs{}, err
	}
	if info != nil && !now.Before(info.SwitchAt) {
		cert, err := loadPair(existing(dir, nextCertFile, certFile), existing(dir, nextKeyFile, keyFile))
		if err != nil {
			return Certs{}, err
		}
		if Fingerprint(cert.Certificate[0]) != info.Fingerprint {
			return Certs{}, fmt.Errorf("tlspin: the next certificate in %s is not the one %s names", dir, nextInfoFile)
		}
		return Certs{Current: cert}, nil
	}
	cur, err := loadPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		return Certs{}, err
	}
	c := Certs{Current: cur}
	if info == nil {
		return c, nil
	}
	next, err := loadPair(filepath.Join(dir, nextCertFile), filepath.Join(dir, nextKeyFile))
	if err != nil {
		return Certs{}, err
	}
	if Fingerprint(next.Certificate[0]) != info.Fingerprint {
		return Certs{}, fmt.Errorf("tlspin: the next certificate in %s is not the one %s names", dir, nextInfoFile)
	}
	c.Next, c.SwitchAt = &next, info.SwitchAt
	return c, nil
}

func loadPair(certPath, keyPath string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return cert, fmt.Errorf("tlspin: load %s: %w", certPath, err)
	}
	return cert, nil
}

// Promote makes a next certificate whose switch-over time has come the
// current one on disk. It is safe to run again after a crash at any point:
// the renames are repeated as far as needed and tls.next.json goes last.
func Promote(dir string, now time.Time) (promoted bool, err error) {
	info, err := readNextInfo(dir)
	if err != nil || info == nil || now.Before(info.SwitchAt) {
		return false, err
	}
	if _, err := Load(dir, now); err != nil {
		return false, err // never move files that do not form the named certificate
	}
	for _, mv := range [][2]string{{nextKeyFile, keyFile}, {nextCertFile, certFile}} {
		err := os.Rename(filepath.Join(dir, mv[0]), filepath.Join(dir, mv[1]))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	if err := os.Remove(filepath.Join(dir, nextInfoFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, syncDir(dir)
}

// Rotate makes a new key and self-signed certificate in dir (for the same
// host names as the current one) as the next certificate, taking over at
// switchAt. A next certificate whose time has come is promoted first. While
// another rotation is pending it returns ErrRotationPending, unless replace
// is set: then the pending next certificate is discarded (devices that
// pinned it learn the new one when they connect).
func Rotate(dir string, switchAt, now time.Time, replace bool) (Certs, error) {
	if _, err := Promote(dir, now); err != nil {
		return Certs{}, err
	}
	c, err := Load(dir, now)
	if err != nil {
		return Certs{}, err
	}
	if c.Next != nil {
		if !replace {
			return c, ErrRotationPending
		}
		// Cancel the pending rotation first: a crash below then leaves none.
		if err := os.Remove(filepath.Join(dir, nextInfoFile)); err != nil {
			return c, err
		}
	}
	leaf, err := x509.ParseCertificate(c.Current.Certificate[0])
	if err != nil {
		return c, fmt.Errorf("tlspin: parse the current certificate: %w", err)
	}
	hosts := append([]string{}, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	certPEM, keyPEM, err := generate(hosts)
	if err != nil {
		return c, err
	}
	next, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return c, err
	}
	ref := filepath.Join(dir, keyFile)
	if err := writeAtomic(filepath.Join(dir, nextKeyFile), keyPEM, 0o600, ref); err != nil {
		return c, err
	}
	if err := writeAtomic(filepath.Join(dir, nextCertFile), certPEM, 0o644, ref); err != nil {
		return c, err
	}
	info, err := json.MarshalIndent(nextInfo{Fingerprint: Fingerprint(next.Certificate[0]), SwitchAt: switchAt.UTC()}, "", "  ")
	if err != nil {
		return c, err
	}
	if err := writeAtomic(filepath.Join(dir, nextInfoFile), append(info, '\n'), 0o644, ref); err != nil {
		return c, err
	}
	c.Next, c.SwitchAt = &next, switchAt.UTC()
	return c, nil
}

// writeAtomic writes a file durably under a temporary name, gives it the
// owner of ref (so that an operator running as root leaves files the
// coordinator's user can read) and renames it into place.
func writeAtomic(path string, data []byte, mode os.FileMode, ref string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = copyOwner(ref, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // best effort: some platforms cannot sync a directory
	return nil
}
