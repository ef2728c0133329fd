package signreq

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/roster"
)

// TestEncodeFormat pins the encoding the package documents.
func TestEncodeFormat(t *testing.T) {
	b := newBody()
	b.Requester = strings.Repeat("ab", 16)
	raw, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"requester":"` + b.Requester + `","key_id":"k1","kind":"digest","items":["` + b.Items[0] + `","` + b.Items[1] +
		`"],"path":"m/44/60/0/0/7","request_id":"pay-1","expires":1700000300,"nonce":"` + testNonce + `"}`
	if string(raw) != want {
		t.Fatalf("Encode:\n%s\nwant\n%s", raw, want)
	}
	got, err := Decode(raw)
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("Decode: %+v %v", got, err)
	}
	// No path: the field is left out.
	b.Path = ""
	raw, err = Encode(b)
	if err != nil || strings.Contains(string(raw), "path") {
		t.Fatalf("Encode without a path: %s %v", raw, err)
	}
	if got, err := Decode(raw); err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("Decode without a path: %+v %v", got, err)
	}
}

func TestEncode(t *testing.T) {
	items := func(n int) []string {
		var out []string
		for i := range n {
			d := sha256.Sum256([]byte{byte(i)})
			out = append(out, hex.EncodeToString(d[:]))
		}
		return out
	}
	valid := func(b Body) Body {
		b.Requester = strings.Repeat("0a", 16)
		return b
	}
	tests := []struct {
		name string
		edit func(*Body)
		ok   bool
	}{
		{"valid", func(*Body) {}, true},
		{"message", func(b *Body) { b.Kind = KindMessage }, true},
		{"no path", func(b *Body) { b.Path = "" }, true},
		{"path of one step", func(b *Body) { b.Path = "m/0" }, true},
		{"64 items", func(b *Body) { b.Items = items(MaxItems) }, true},
		{"request id of 128 bytes", func(b *Body) { b.RequestID = strings.Repeat("r", MaxRequestID) }, true},
		{"request id of 128 bytes in 2-byte runes", func(b *Body) { b.RequestID = strings.Repeat("é", MaxRequestID/2) }, true},
		{"request id with HTML", func(b *Body) { b.RequestID = `<a href="x">&amp;</a>` }, true},
		{"request id with a space", func(b *Body) { b.RequestID = "pay 1" }, true},
		{"key id of 128", func(b *Body) { b.KeyID = strings.Repeat("k", 128) }, true},
		{"key id with . _ : -", func(b *Body) { b.KeyID = "a.b_c:d-E9" }, true},

		{"version 0", func(b *Body) { b.Version = 0 }, false},
		{"version 2", func(b *Body) { b.Version = 2 }, false},
		{"no requester", func(b *Body) { b.Requester = "" }, false},
		{"requester of 31", func(b *Body) { b.Requester = b.Requester[:31] }, false},
		{"requester of 33", func(b *Body) { b.Requester += "0" }, false},
		{"requester in upper case", func(b *Body) { b.Requester = strings.Repeat("0A", 16) }, false},
		{"requester not hex", func(b *Body) { b.Requester = strings.Repeat("0g", 16) }, false},
		{"no key id", func(b *Body) { b.KeyID = "" }, false},
		{"key id of 129", func(b *Body) { b.KeyID = strings.Repeat("k", 129) }, false},
		{"key id with a space", func(b *Body) { b.KeyID = "k 1" }, false},
		{"key id with a slash", func(b *Body) { b.KeyID = "k/1" }, false},
		{"key id all keys", func(b *Body) { b.KeyID = roster.AllKeysGrant }, false},
		{"no kind", func(b *Body) { b.Kind = "" }, false},
		{"kind in upper case", func(b *Body) { b.Kind = "Digest" }, false},
		{"unknown kind", func(b *Body) { b.Kind = "signature" }, false},
		{"no items", func(b *Body) { b.Items = nil }, false},
		{"empty items", func(b *Body) { b.Items = []string{} }, false},
		{"65 items", func(b *Body) { b.Items = items(MaxItems + 1) }, false},
		{"item of 63", func(b *Body) { b.Items[1] = b.Items[1][:63] }, false},
		{"item of 66", func(b *Body) { b.Items[1] += "00" }, false},
		{"item in upper case", func(b *Body) { b.Items[1] = strings.ToUpper(b.Items[1]) }, false},
		{"item not hex", func(b *Body) { b.Items[0] = "g" + b.Items[0][1:] }, false},
		{"empty item", func(b *Body) { b.Items[0] = "" }, false},
		{"root path", func(b *Body) { b.Path = "m" }, false},
		{"hardened path", func(b *Body) { b.Path = "m/44'/60" }, false},
		{"hardened index", func(b *Body) { b.Path = "m/2147483648" }, false},
		{"path without m/", func(b *Body) { b.Path = "44/60" }, false},
		{"path with a leading zero", func(b *Body) { b.Path = "m/44/060" }, false},
		{"path with a trailing slash", func(b *Body) { b.Path = "m/44/" }, false},
		{"path of 33 steps", func(b *Body) { b.Path = "m" + strings.Repeat("/1", 33) }, false},
		{"no request id", func(b *Body) { b.RequestID = "" }, false},
		{"request id of 129 bytes", func(b *Body) { b.RequestID = strings.Repeat("r", MaxRequestID+1) }, false},
		{"request id of 129 bytes in runes", func(b *Body) { b.RequestID = "r" + strings.Repeat("é", MaxRequestID/2) }, false},
		{"request id with a newline", func(b *Body) { b.RequestID = "pay\n1" }, false},
		{"request id with a tab", func(b *Body) { b.RequestID = "pay\t1" }, false},
		{"request id with NUL", func(b *Body) { b.RequestID = "pay\x001" }, false},
		{"request id with U+2028", func(b *Body) { b.RequestID = "pay\u20281" }, false},
		{"request id not UTF-8", func(b *Body) { b.RequestID = "pay\xff" }, false},
		{"expires 0", func(b *Body) { b.Expires = 0 }, false},
		{"expires negative", func(b *Body) { b.Expires = -1 }, false},
		{"no nonce", func(b *Body) { b.Nonce = "" }, false},
		{"nonce of 31", func(b *Body) { b.Nonce = b.Nonce[:31] }, false},
		{"nonce of 64", func(b *Body) { b.Nonce += b.Nonce }, false},
		{"nonce in upper case", func(b *Body) { b.Nonce = strings.ToUpper(b.Nonce) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := valid(newBody())
			tc.edit(&b)
			raw, err := Encode(b)
			if !tc.ok {
				wantErr(t, err, ErrMalformed)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode(%s): %v", raw, err)
			}
			if !reflect.DeepEqual(got, b) {
				t.Fatalf("round trip: %+v, want %+v", got, b)
			}
		})
	}
}

func TestDecodeIsCanonical(t *testing.T) {
	b := newBody()
	b.Requester = strings.Repeat("0a", 16)
	b.RequestID = "<pay>&1"
	good, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	if !strings.Contains(s, `"request_id":"\u003cpay\u003e\u00261"`) {
		t.Fatalf("the HTML characters are not escaped: %s", s)
	}
	for _, tc := range []struct{ name, raw string }{
		{"space after a colon", strings.Replace(s, `"v":1`, `"v": 1`, 1)},
		{"space after a comma", strings.Replace(s, `,"key_id"`, `, "key_id"`, 1)},
		{"leading whitespace", " " + s},
		{"trailing newline", s + "\n"},
		{"pretty", strings.ReplaceAll(s, `,"`, ",\n  \"")},
		{"trailing data", s + "{}"},
		{"two values", s + s},
		{"fields reordered", strings.Replace(s, `"key_id":"k1","kind":"digest"`, `"kind":"digest","key_id":"k1"`, 1)},
		{"nonce first", `{"nonce":"` + testNonce + `",` + strings.Replace(s[1:], `,"nonce":"`+testNonce+`"`, ``, 1)},
		{"upper-case item hex", strings.Replace(s, b.Items[0], strings.ToUpper(b.Items[0]), 1)},
		{"upper-case requester hex", strings.Replace(s, b.Requester, strings.ToUpper(b.Requester), 1)},
		{"upper-case nonce hex", strings.Replace(s, testNonce, strings.ToUpper(testNonce), 1)},
		{"unknown field", strings.Replace(s, `{"v":1`, `{"v":1,"admin":true`, 1)},
		{"unknown field at the end", strings.TrimSuffix(s, "}") + `,"x":1}`},
		{"duplicate key", strings.Replace(s, `"key_id":"k1"`, `"key_id":"k2","key_id":"k1"`, 1)},
		{"upper-case field name", strings.Replace(s, `"key_id"`, `"Key_ID"`, 1)},
		{"escaped letter", strings.Replace(s, `"k1"`, `"\u006b1"`, 1)},
		{"unescaped HTML", strings.Replace(s, `\u003cpay\u003e\u00261`, `<pay>&1`, 1)},
		{"other escape of HTML", strings.Replace(s, `\u003cpay`, `\u003Cpay`, 1)},
		{"explicit empty path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":""`, 1)},
		{"null path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":null`, 1)},
		{"null items", strings.Replace(s, `"items":["`+b.Items[0]+`","`+b.Items[1]+`"]`, `"items":null`, 1)},
		{"expires with an exponent", strings.Replace(s, `"expires":1700000300`, `"expires":1.7000003e9`, 1)},
		{"expires with a fraction", strings.Replace(s, `"expires":1700000300`, `"expires":1700000300.0`, 1)},
		{"expires as a string", strings.Replace(s, `"expires":1700000300`, `"expires":"1700000300"`, 1)},
		{"expires with a leading zero", strings.Replace(s, `"expires":1700000300`, `"expires":01700000300`, 1)},
		{"version 2", strings.Replace(s, `"v":1`, `"v":2`, 1)},
		{"version as 1.0", strings.Replace(s, `"v":1`, `"v":1.0`, 1)},
		{"no version", strings.Replace(s, `"v":1,`, ``, 1)},
		{"root path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"m"`, 1)},
		{"hardened path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"m/44'/60/0/0/7"`, 1)},
		{"path without m/", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"44/60/0/0/7"`, 1)},
		{"no nonce", strings.Replace(s, `,"nonce":"`+testNonce+`"`, ``, 1)},
		{"null", "null"},
		{"empty object", "{}"},
		{"array", "[]"},
		{"not JSON", "{"},
		{"oversize", s + strings.Repeat(" ", MaxBodySize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			if _, err := Decode([]byte(tc.raw)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%.80q): %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
	if _, err := Decode(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode(nil): %v", err)
	}
}
