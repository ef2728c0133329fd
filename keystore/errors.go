package keystore

import (
	"errors"

	"github.com/mpcsign/mpcsign/keystore/seal"
)

// Sentinel errors. Test for them with errors.Is: the returned errors usually
// wrap them with the record key or the data directory for context.
var (
	// ErrWrongPassphrase, ErrTampered and ErrNoPassphrase are the values of
	// package seal (seal.ErrWrongPassphrase, ...), so errors.Is matches
	// under either name.
	ErrWrongPassphrase = seal.ErrWrongPassphrase
	ErrTampered        = seal.ErrTampered
	ErrNoPassphrase    = seal.ErrNoPassphrase
	ErrNotFound        = errors.New("keystore: not found")
	ErrLocked          = errors.New("keystore: data directory is in use by another process")
	// ErrClosed is returned by every method of a Store after Close, and by
	// the methods of a Txn used after its Update has returned.
	ErrClosed = errors.New("keystore: store or transaction is closed")
	// ErrInvalidKey is returned for a record key that is empty, too long,
	// starts with a 0x00 byte (reserved for internal records) or with
	// badger's reserved "!badger!" prefix.
	ErrInvalidKey = errors.New("keystore: invalid record key")
	// ErrValueTooLarge is returned by Put for a value over MaxValueSize.
	ErrValueTooLarge = errors.New("keystore: value too large")
)
