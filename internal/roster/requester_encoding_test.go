package roster

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRequesterID(t *testing.T) {
	ed := []byte(newKey("requester:wallet").PublicKey())
	p := p256Key(t, "kms")
	for _, tc := range []struct {
		alg string
		key []byte
	}{{AlgEd25519, ed}, {AlgP256, p}} {
		h := sha256.Sum256(append([]byte("mpcsign/v1/requester-id\x00"+tc.alg+"\x00"), tc.key...))
		if got, want := RequesterID(tc.alg, tc.key), hex.EncodeToString(h[:16]); got != want {
			t.Errorf("%s: %s, want %s", tc.alg, got, want)
		}
	}
	if RequesterID(AlgEd25519, ed) == RequesterID(AlgP256, ed) {
		t.Error("the id does not depend on the algorithm")
	}
	if err := ParseRequesterKey(AlgEd25519, ed); err != nil {
		t.Error(err)
	}
	if err := ParseRequesterKey(AlgP256, p); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct {
		alg string
		key []byte
	}{{AlgEd25519, p}, {AlgP256, ed}, {"rsa", ed}, {AlgEd25519, nil}, {AlgP256, nil}} {
		if err := ParseRequesterKey(bad.alg, bad.key); !errorsIsRule(err) {
			t.Errorf("ParseRequesterKey(%s, %d bytes): %v, want ErrRule", bad.alg, len(bad.key), err)
		}
	}
}

func errorsIsRule(err error) bool { return err != nil && errors.Is(err, ErrRule) }

func TestRequesterEncoding(t *testing.T) {
	q := p256Requester(t, "kms", "kms@example.com", "k1", "k:2")
	q.Paths, q.MaxPerHour = []string{"m/44/60", "m/0"}, 7
	b := Body{Version: 1, Height: 5, Prev: Hash{7}.String(), Time: 1700000000, Kind: KindAddRequester, Requester: &q, Reason: "<new> & \u2028"}
	raw, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	// The documented shape: fields in struct order.
	wantPrefix := `{"v":1,"height":5,"prev":"` + Hash{7}.String() + `","time":1700000000,"kind":"add_requester","reason":"\u003cnew\u003e \u0026 \u2028",` +
		`"requester":{"id":"` + q.ID + `","name":"kms@example.com","algorithm":"ecdsa-p256","public_key":"` + base64.StdEncoding.EncodeToString(q.PublicKey) +
		`","keys":["k1","k:2"],"paths":["m/44/60","m/0"],"max_per_hour":7}}`
	if string(raw) != wantPrefix {
		t.Fatalf("encoding\n%s\nwant\n%s", raw, wantPrefix)
	}
	got, err := DecodeBody(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip\n%+v\nwant\n%+v", got, b)
	}
	rb := Body{Version: 1, Height: 6, Prev: Hash{8}.String(), Time: 1700000001, Kind: KindRevokeRequester, RequesterID: q.ID}
	raw2, err := EncodeBody(rb)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"height":6,"prev":"` + (Hash{8}).String() + `","time":1700000001,"kind":"revoke_requester","requester_id":"` + q.ID + `"}`; string(raw2) != want {
		t.Fatalf("encoding\n%s\nwant\n%s", raw2, want)
	}
	if got, err := DecodeBody(raw2); err != nil || !reflect.DeepEqual(got, rb) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Optional requester fields are omitted when empty.
	minimal := edRequester("x", "x", AllKeysGrant)
	b.Requester, b.Reason = &minimal, ""
	raw3, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(raw3); strings.Contains(s, "paths") || strings.Contains(s, "max_per_hour") || strings.Contains(s, "requester_id") || !strings.HasSuffix(s, `"keys":["*"]}}`) {
		t.Fatalf("encoding %s", s)
	}

	s := string(raw)
	for _, tc := range []struct{ name, raw string }{
		{"unknown field in the requester", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":7,"admin":true`, 1)},
		{"unknown field beside the requester", strings.Replace(s, `"requester":{`, `"requester_key":1,"requester":{`, 1)},
		{"requester fields reordered", strings.Replace(s, `"id":"`+q.ID+`","name":"kms@example.com"`, `"name":"kms@example.com","id":"`+q.ID+`"`, 1)},
		{"requester field in upper case", strings.Replace(s, `"public_key"`, `"Public_Key"`, 1)},
		{"duplicate requester field", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":8,"max_per_hour":7`, 1)},
		{"empty paths", strings.Replace(s, `"paths":["m/44/60","m/0"]`, `"paths":[]`, 1)},
		{"null paths", strings.Replace(s, `"paths":["m/44/60","m/0"]`, `"paths":null`, 1)},
		{"zero max_per_hour", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":0`, 1)},
		{"max_per_hour as a string", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":"7"`, 1)},
		{"max_per_hour with an exponent", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":7e0`, 1)},
		{"public key unpadded", strings.Replace(s, `=",`, `",`, 1)},
		{"public key in url base64", strings.Replace(s, base64.StdEncoding.EncodeToString(q.PublicKey), base64.URLEncoding.EncodeToString(q.PublicKey), 1)},
		{"escaped key id", strings.Replace(s, `"k1"`, `"\u006b1"`, 1)},
		{"space in the requester", strings.Replace(s, `"keys":[`, `"keys": [`, 1)},
		{"explicit null requester id", strings.TrimSuffix(s, "}") + `,"requester_id":null}`},
		{"empty requester id", strings.TrimSuffix(s, "}") + `,"requester_id":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			if _, err := DecodeBody([]byte(tc.raw)); !errorsIsMalformed(err) {
				t.Fatalf("DecodeBody(%.80q): %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
	// A null requester decodes to none, which encodes without it.
	if _, err := DecodeBody([]byte(`{"v":1,"height":1,"time":1,"kind":"add_requester","requester":null}`)); !errorsIsMalformed(err) {
		t.Fatalf("null requester: %v", err)
	}

	// EncodeBody refuses requester text that is not UTF-8.
	for name, edit := range map[string]func(*Requester){
		"name":      func(r *Requester) { r.Name = "a\xffb" },
		"id":        func(r *Requester) { r.ID = "a\xffb" },
		"algorithm": func(r *Requester) { r.Algorithm = "a\xffb" },
		"key":       func(r *Requester) { r.Keys = []string{"a\xffb"} },
		"path":      func(r *Requester) { r.Paths = []string{"m/\xff"} },
	} {
		r := edRequester("x", "x", "k1")
		edit(&r)
		if _, err := EncodeBody(Body{Version: 1, Time: 1, Kind: KindAddRequester, Requester: &r}); !errorsIsMalformed(err) {
			t.Errorf("requester %s not UTF-8: %v", name, err)
		}
	}
	if _, err := EncodeBody(Body{Version: 1, Time: 1, Kind: KindRevokeRequester, RequesterID: "a\xffb"}); !errorsIsMalformed(err) {
		t.Errorf("requester id not UTF-8: %v", err)
	}
}
