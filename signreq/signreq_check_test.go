package signreq

import (
	"crypto/sha256"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
)

func TestCheck(t *testing.T) {
	w := newWorld(t)
	wallet := w.requester(t, w.wallet.Public()) // k1, k2; m/44/60, m/0
	kms := w.requester(t, w.kms.Public())       // every key and path
	exp := t0.Add(DefaultLifetime)
	msgItem := ItemOf(KindMessage, message)
	tests := []struct {
		name string
		edit func(*Body)       // the signed body (newBody)
		r    *roster.Requester // default: wallet
		s    func(*Session)    // default: item 1 of the body
		now  time.Time         // default: t0
		want error
	}{
		{"item 1", nil, nil, nil, time.Time{}, nil},
		{"item 0", nil, nil, func(s *Session) { s.Item, s.Data = 0, digest0[:] }, time.Time{}, nil},
		{"key k2", func(b *Body) { b.KeyID = "k2" }, nil, func(s *Session) { s.KeyID = "k2" }, time.Time{}, nil},
		{"granted path itself", func(b *Body) { b.Path = "m/44/60" }, nil, func(s *Session) { s.Path = "m/44/60" }, time.Time{}, nil},
		{"second granted path", func(b *Body) { b.Path = "m/0/5" }, nil, func(s *Session) { s.Path = "m/0/5" }, time.Time{}, nil},
		{"message", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { s.Item, s.Data, s.Message = 0, message, true }, time.Time{}, nil},
		{"every key and path", func(b *Body) { b.KeyID, b.Path = "k9", "" }, &kms, func(s *Session) { s.KeyID, s.Path = "k9", "" }, time.Time{}, nil},

		// The session is not the request.
		{"other key", nil, nil, func(s *Session) { s.KeyID = "k2" }, time.Time{}, ErrMismatch},
		{"other path", nil, nil, func(s *Session) { s.Path = "m/44/60/0/0/8" }, time.Time{}, ErrMismatch},
		{"parent path", nil, nil, func(s *Session) { s.Path = "m/44/60/0/0" }, time.Time{}, ErrMismatch},
		{"root key for a path", nil, nil, func(s *Session) { s.Path = "" }, time.Time{}, ErrMismatch},
		{"path for the root key", func(b *Body) { b.Path = "" }, &kms, func(s *Session) { s.Path = "m/44/60/0/0/7" }, time.Time{}, ErrMismatch},
		{"other digest", nil, nil, func(s *Session) { d := sha256.Sum256([]byte("tx 2")); s.Data = d[:] }, time.Time{}, ErrMismatch},
		{"digest of another item", nil, nil, func(s *Session) { s.Data = digest0[:] }, time.Time{}, ErrMismatch},
		{"digest truncated", nil, nil, func(s *Session) { s.Data = digest1[:31] }, time.Time{}, ErrMismatch},
		{"no data", nil, nil, func(s *Session) { s.Data = nil }, time.Time{}, ErrMismatch},
		{"item past the end", nil, nil, func(s *Session) { s.Item = 2 }, time.Time{}, ErrMismatch},
		{"negative item", nil, nil, func(s *Session) { s.Item = -1 }, time.Time{}, ErrMismatch},
		{"digest session for a message request", func(b *Body) { b.Kind = KindMessage }, nil, nil, time.Time{}, ErrMismatch},
		{"message session for a digest request", nil, nil, func(s *Session) { s.Message = true }, time.Time{}, ErrMismatch},
		{"message session with the digest of a digest request", func(b *Body) { b.Items[1] = msgItem },
			nil, func(s *Session) { s.Message, s.Data = true, message }, time.Time{}, ErrMismatch},
		{"message session with the hash as its message", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { h := sha256.Sum256(message); s.Item, s.Data, s.Message = 0, h[:], true }, time.Time{}, ErrMismatch},
		{"digest session with the message's hash", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { h := sha256.Sum256(message); s.Item, s.Data = 0, h[:] }, time.Time{}, ErrMismatch},

		// The requester's grants.
		{"key not granted", func(b *Body) { b.KeyID = "k3" }, nil, func(s *Session) { s.KeyID = "k3" }, time.Time{}, ErrNotAllowed},
		{"key differing in case", func(b *Body) { b.KeyID = "K1" }, nil, func(s *Session) { s.KeyID = "K1" }, time.Time{}, ErrNotAllowed},
		{"path not granted", func(b *Body) { b.Path = "m/44/600/0" }, nil, func(s *Session) { s.Path = "m/44/600/0" }, time.Time{}, ErrNotAllowed},
		{"parent of a granted path", func(b *Body) { b.Path = "m/44" }, nil, func(s *Session) { s.Path = "m/44" }, time.Time{}, ErrNotAllowed},
		{"root key not granted", func(b *Body) { b.Path = "" }, nil, func(s *Session) { s.Path = "" }, time.Time{}, ErrNotAllowed},

		// The clock.
		{"at the expiry", nil, nil, nil, exp, nil},
		{"expired within the skew", nil, nil, nil, exp.Add(ClockSkew), nil},
		{"expired beyond the skew", nil, nil, nil, exp.Add(ClockSkew + time.Nanosecond), ErrExpired},
		{"expired long ago", nil, nil, nil, exp.Add(24 * time.Hour), ErrExpired},
		{"furthest ahead", nil, nil, nil, exp.Add(-MaxLifetime - ClockSkew), nil},
		{"too far ahead", nil, nil, nil, exp.Add(-MaxLifetime - ClockSkew - time.Nanosecond), ErrTooLong},
		{"a day ahead", func(b *Body) { b.Expires = t0.Add(24 * time.Hour).Unix() }, nil, nil, time.Time{}, ErrTooLong},
		{"expires at the end of time", func(b *Body) { b.Expires = math.MaxInt64 }, nil, nil, time.Time{}, errTimeRefused},
		{"expires at the end of unix time", func(b *Body) { b.Expires = math.MaxInt64 - 62135596800 }, nil, nil, time.Time{}, errTimeRefused},
		{"expires in year 10000", func(b *Body) { b.Expires = 253402300800 }, nil, nil, time.Time{}, ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBody()
			if tc.edit != nil {
				tc.edit(&b)
			}
			r := wallet
			if tc.r != nil {
				r = *tc.r
			}
			b.Requester = r.ID
			if _, err := Encode(b); err != nil {
				t.Fatalf("the test body: %v", err)
			}
			s := Session{KeyID: b.KeyID, Path: b.Path, Item: 1, Data: digest1[:]}
			if tc.s != nil {
				tc.s(&s)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			err := Check(b, r, s, now)
			if tc.want == errTimeRefused {
				if !errors.Is(err, ErrExpired) && !errors.Is(err, ErrTooLong) {
					t.Fatalf("error %v, want ErrExpired or ErrTooLong", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

// errTimeRefused in TestCheck is ErrExpired or ErrTooLong.
var errTimeRefused = errors.New("refused for its time")

func TestCheckTime(t *testing.T) {
	b := Body{Expires: t0.Unix()}
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{t0, nil},
		{t0.Add(ClockSkew), nil},
		{t0.Add(ClockSkew + time.Nanosecond), ErrExpired},
		{t0.Add(-MaxLifetime - ClockSkew), nil},
		{t0.Add(-MaxLifetime - ClockSkew - time.Nanosecond), ErrTooLong},
		{t0.Add(-DefaultLifetime), nil},
		{time.Unix(0, 0), ErrTooLong},
		{time.Unix(1<<40, 0), ErrExpired},
	} {
		if err := CheckTime(b, tc.now); !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
			t.Errorf("now %s: %v, want %v", tc.now.Sub(t0), err, tc.want)
		}
	}
	if DefaultLifetime > MaxLifetime {
		t.Fatal("Sign's default lifetime is over the maximum")
	}
}
