package party

import (
	"math/big"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Tamper helpers of the malicious-party tests, both those on the in-memory
// network (package party) and those over the full cluster (party_test).

// EditPayload decodes a tss-lib wire payload as T, lets f change it and
// re-encodes it.
func EditPayload[T proto.Message](t *testing.T, payload []byte, f func(T)) []byte {
	t.Helper()
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		t.Errorf("decode: %v", err)
		return payload
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Errorf("decode: %v", err)
		return payload
	}
	f(m.(T))
	out, err := anypb.New(m)
	if err != nil {
		t.Errorf("encode: %v", err)
		return payload
	}
	b, err := proto.Marshal(out)
	if err != nil {
		t.Errorf("encode: %v", err)
	}
	return b
}

// TamperType changes every outgoing message of one type with f.
func TamperType(typ string, f func(payload []byte) [][]byte) func(string, string, []byte) [][]byte {
	return func(msgType, _ string, payload []byte) [][]byte {
		if strings.HasSuffix(msgType, "."+typ) {
			return f(payload)
		}
		return [][]byte{payload}
	}
}

// PlusOne is b, as a big-endian number, plus one.
func PlusOne(b []byte) []byte {
	return new(big.Int).Add(new(big.Int).SetBytes(b), big.NewInt(1)).Bytes()
}
