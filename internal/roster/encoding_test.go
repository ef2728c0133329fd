package roster

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeBodyIsCanonical(t *testing.T) {
	_, d := device("phone", "phone")
	good, err := EncodeBody(Body{Version: 1, Height: 1, Prev: Hash{7}.String(), Time: 1700000000, Kind: KindAddDevice, Device: &d})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBody(good); err != nil {
		t.Fatalf("the canonical encoding: %v", err)
	}
	s := string(good)
	tests := []struct {
		name string
		raw  string
	}{
		{"space after a colon", strings.Replace(s, `"v":1`, `"v": 1`, 1)},
		{"leading whitespace", " " + s},
		{"trailing newline", s + "\n"},
		{"trailing data", s + "{}"},
		{"two values", s + s},
		{"unknown field", strings.Replace(s, `{"v":1`, `{"v":1,"extra":1`, 1)},
		{"unknown field in the device", strings.Replace(s, `"name":"phone"`, `"name":"phone","admin":true`, 1)},
		{"duplicate key", strings.Replace(s, `"height":1`, `"height":2,"height":1`, 1)},
		{"upper-case field name", strings.Replace(s, `"height"`, `"Height"`, 1)},
		{"fields reordered", strings.Replace(s, `{"v":1,"height":1`, `{"height":1,"v":1`, 1)},
		{"escaped letter", strings.Replace(s, `"add_device"`, `"\u0061dd_device"`, 1)},
		{"explicit null", strings.Replace(s, `"kind"`, `"nonce":null,"kind"`, 1)},
		{"empty string field", strings.Replace(s, `"kind"`, `"nonce":"","kind"`, 1)},
		{"number with exponent", strings.Replace(s, `"height":1`, `"height":1e0`, 1)},
		{"base64 without padding", strings.Replace(s, `=",`, `",`, 1)},
		{"version 2", strings.Replace(s, `"v":1`, `"v":2`, 1)},
		{"version 0", strings.Replace(s, `"v":1,`, ``, 1)},
		{"null", "null"},
		{"empty", ""},
		{"array", "[]"},
		{"not json", "{"},
		{"oversize", s[:len(s)-1] + `,"reason":"` + strings.Repeat("x", MaxBodySize) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			if _, err := DecodeBody([]byte(tc.raw)); !errorsIsMalformed(err) {
				t.Fatalf("DecodeBody(%.80q): %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
}

func TestEncodeBodyRefuses(t *testing.T) {
	for name, b := range map[string]Body{
		"version 0":    {Kind: KindAddDevice, Time: 1},
		"version 2":    {Version: 2, Kind: KindAddDevice, Time: 1},
		"invalid utf8": {Version: 1, Kind: KindAddDevice, Time: 1, Reason: "a\xffb"},
		"too big":      {Version: 1, Kind: KindAddDevice, Time: 1, Reason: strings.Repeat("x", MaxBodySize)},
	} {
		if _, err := EncodeBody(b); !errorsIsMalformed(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Text that JSON escapes still round-trips.
	b := Body{Version: 1, Kind: KindAddDevice, Time: 1, Reason: "<a & b>\u2028\"\\\n"}
	raw, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeBody(raw); err != nil || got.Reason != b.Reason {
		t.Fatalf("%q %v", got.Reason, err)
	}
}

func TestHashesAreDomainSeparated(t *testing.T) {
	body := []byte(`{"v":1}`)
	e, a := Entry{Body: body}, Authorization{Body: body}
	plain := sha256.Sum256(body)
	want := sha256.Sum256(append([]byte("mpcsign/v1/roster-entry\x00"), body...))
	if e.Hash() != Hash(want) || e.Hash() == Hash(plain) || e.Hash() == a.Hash() {
		t.Fatal("entry hash is not SHA-256 over its domain and body")
	}
	if want := sha256.Sum256(append([]byte("mpcsign/v1/ceremony\x00"), body...)); a.Hash() != Hash(want) {
		t.Fatal("authorization hash is not SHA-256 over its domain and body")
	}
	h := e.Hash()
	if !bytes.Equal(SigningMessage(h), append([]byte("mpcsign/v1/roster-sign\x00"), h[:]...)) ||
		!bytes.Equal(CeremonySigningMessage(h), append([]byte("mpcsign/v1/ceremony-sign\x00"), h[:]...)) {
		t.Fatal("signing messages")
	}
}

func TestParseHash(t *testing.T) {
	h := Hash{0xab, 0xcd, 31: 0xef}
	s := h.String()
	if s != strings.ToLower(s) || len(s) != 64 {
		t.Fatalf("String %q", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		if got, err := ParseHash(in); err != nil || got != h {
			t.Fatalf("ParseHash(%q) = %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"", s[:62], s + "00", "zz" + s[2:], " " + s[1:]} {
		if _, err := ParseHash(bad); !errorsIsMalformed(err) {
			t.Fatalf("ParseHash(%q): %v", bad, err)
		}
	}
	if !(Hash{}).IsZero() || h.IsZero() {
		t.Fatal("IsZero")
	}
}

// TestWireNames pins the JSON field names: changing one changes every hash.
func TestWireNames(t *testing.T) {
	_, d := device("phone", "phone")
	raw, _ := EncodeBody(Body{Version: 1, Height: 1, Prev: "p", Time: 2, Kind: KindAddDevice, Nonce: "n", Operators: []Operator{{Name: "o", Key: []byte{1}}}, Quorum: 1, DeviceApproval: true, Device: &d, DeviceID: "i", Reason: "r"})
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "height", "prev", "time", "kind", "nonce", "operators", "quorum", "device_approval", "device", "device_id", "reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no field %q in %s", k, raw)
		}
	}
	if len(m) != 12 {
		t.Errorf("%d fields", len(m))
	}
}
