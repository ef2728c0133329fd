package guard

import (
	"encoding/gob"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// The fuzz targets are seeded with the messages of the real runs. Running the
// protocols takes tens of seconds, and every fuzzing worker process runs the
// target's setup again, so the process that runs them first (the fuzzing
// coordinator, or plain `go test`) writes the messages to a temporary file
// and passes its path to the workers in seedsEnv. A path set in seedsEnv
// beforehand that names no file yet is where the first run writes them, so
// that later runs (the next target, in CI) read them instead of running the
// protocols again.
//
// The seeds are large (up to 175 KB), and minimizing a large interesting input
// takes the fuzzer up to a minute by default, so run the targets with a short
// minimization budget:
//
//	go test ./internal/guard -run '^$' -fuzz '^FuzzCheckWire$' -fuzztime 20s -fuzzminimizetime 1s
//	go test ./internal/guard -run '^$' -fuzz '^FuzzCheckField$' -fuzztime 20s -fuzzminimizetime 1s
const seedsEnv = "MPCSIGN_GUARD_FUZZ_SEEDS"

type seed struct {
	Protocol Protocol
	Wire     []byte
	FromID   string
	FromKey  []byte
	Index    int
	Bcast    bool
}

func (s seed) captured() captured {
	from := tss.NewPartyID(s.FromID, s.FromID, new(big.Int).SetBytes(s.FromKey))
	from.Index = s.Index
	return captured{protocol: s.Protocol, wire: s.Wire, from: from, bcast: s.Bcast}
}

func fuzzSeeds(f *testing.F) []seed {
	f.Helper()
	path := os.Getenv(seedsEnv)
	if path != "" {
		file, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return writeSeeds(f, path)
		}
		if err != nil {
			f.Fatal(err)
		}
		defer file.Close()
		var seeds []seed
		if err := gob.NewDecoder(file).Decode(&seeds); err != nil {
			f.Fatal(err)
		}
		return seeds
	}
	return writeSeeds(f, filepath.Join(f.TempDir(), "seeds.gob"))
}

// writeSeeds runs the protocols, writes their messages to path and passes
// path to the fuzzing workers.
func writeSeeds(f *testing.F, path string) []seed {
	f.Helper()
	r, ed := runs(f), edRuns(f)
	var seeds []seed
	add := func(p Protocol, msgs []captured) {
		for _, m := range msgs {
			seeds = append(seeds, seed{Protocol: p, Wire: m.wire, FromID: m.from.Id, FromKey: m.from.Key, Index: m.from.Index, Bcast: m.bcast})
		}
	}
	for _, p := range allProtocols {
		add(p, r.msgs[p])
	}
	for _, p := range eddsaProtocols {
		add(p, ed.msgs[p])
	}
	add(SignEdDSA, ed.after)
	// Written aside and renamed: a run killed midway leaves no torn file.
	file, err := os.CreateTemp(filepath.Dir(path), "seeds-*.tmp")
	if err != nil {
		f.Fatal(err)
	}
	defer os.Remove(file.Name())
	if err := gob.NewEncoder(file).Encode(seeds); err != nil {
		f.Fatal(err)
	}
	if err := file.Close(); err != nil {
		f.Fatal(err)
	}
	if err := os.Rename(file.Name(), path); err != nil {
		f.Fatal(err)
	}
	f.Setenv(seedsEnv, path)
	return seeds
}

var fuzzParams = map[Protocol]Params{
	KeygenECDSA:  {Protocol: KeygenECDSA, Threshold: runThreshold, PartyCount: runParties},
	SignECDSA:    {Protocol: SignECDSA, Threshold: runThreshold, PartyCount: runSigners},
	ReshareECDSA: {Protocol: ReshareECDSA, Threshold: runThreshold, PartyCount: runParties, NewThreshold: runThreshold, NewPartyCount: runParties},
	KeygenEdDSA:  {Protocol: KeygenEdDSA, Threshold: runThreshold, PartyCount: runParties},
	SignEdDSA:    {Protocol: SignEdDSA, Threshold: runThreshold, PartyCount: runSigners},
	ReshareEdDSA: {Protocol: ReshareEdDSA, Threshold: runThreshold, PartyCount: runParties, NewThreshold: edNewThreshold, NewPartyCount: edNewParties},
}

// fuzzProtocols are the protocols FuzzCheckWire checks every input under.
var fuzzProtocols = []Protocol{KeygenECDSA, SignECDSA, ReshareECDSA, KeygenEdDSA, SignEdDSA, ReshareEdDSA}

// checkProperties runs the checks without their recover, so a panic fails
// the fuzz run, and checks that the guard is never laxer than the library's
// own ValidateBasic.
func checkProperties(t *testing.T, p Params, msg tss.ParsedMessage) {
	err := check(p, msg)
	if err != nil {
		if _, ok := err.(*Violation); !ok {
			t.Fatalf("check returned %T %v, want a *Violation", err, err)
		}
		return
	}
	if !msg.ValidateBasic() {
		t.Fatalf("the guard accepted a %s that fails the library's ValidateBasic", msg.Type())
	}
	s, serr := NewSession(p)
	if serr != nil {
		t.Fatal(serr)
	}
	_ = s.check(msg) // must not panic; ErrOutOfOrder is expected here
}

// FuzzCheckWire parses arbitrary bytes as a receiving party does and checks
// them under every protocol, ECDSA and EdDSA; the seeds are the messages of
// both real runs.
func FuzzCheckWire(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.Wire, s.Bcast)
	}
	from := tss.NewPartyID("fuzz", "fuzz", big.NewInt(4242))
	from.Index = 1
	f.Fuzz(func(t *testing.T, wire []byte, bcast bool) {
		for _, p := range fuzzProtocols {
			if err := CheckWire(fuzzParams[p], wire); err != nil {
				if _, ok := err.(*Violation); !ok {
					t.Fatalf("CheckWire returned %T", err)
				}
			}
		}
		msg, err := tss.ParseWireMessage(wire, from, bcast)
		if err != nil {
			return
		}
		for _, p := range fuzzProtocols {
			checkProperties(t, fuzzParams[p], msg)
		}
	})
}

// FuzzCheckField takes a real message and replaces, truncates or extends one
// of its fields: structure-aware fuzzing that reaches the deep checks.
func FuzzCheckField(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i := range seeds {
		f.Add(uint16(i), uint8(i), uint16(0), []byte{1})
		f.Add(uint16(i), uint8(i+1), uint16(7), []byte{})
	}
	f.Add(uint16(0), uint8(1), uint16(3), big.NewInt(9).Bytes())
	f.Fuzz(func(t *testing.T, which uint16, field uint8, op uint16, value []byte) {
		base := seeds[int(which)%len(seeds)].captured()
		msg, err := base.parse()
		if err != nil {
			t.Fatal(err)
		}
		content := proto.Clone(msg.Content()).(tss.MessageContent)
		mutateField(content.ProtoReflect(), int(field), int(op), value)
		meta := tss.MessageRouting{From: base.from, IsBroadcast: base.bcast}
		checkProperties(t, fuzzParams[base.protocol], tss.NewMessage(meta, content, tss.NewMessageWrapper(meta, content)))
	})
}

// mutateField changes field number field%n of m: a bytes field is replaced;
// in a repeated field, element op/3 is replaced (op%3 == 0), the list is cut
// there (1) or value is inserted there (2).
func mutateField(m protoreflect.Message, field, op int, value []byte) {
	fds := m.Descriptor().Fields()
	if fds.Len() == 0 {
		return
	}
	fd := fds.Get(field % fds.Len())
	if !fd.IsList() {
		m.Set(fd, protoreflect.ValueOfBytes(value))
		return
	}
	list := m.Mutable(fd).List()
	i := (op / 3) % (list.Len() + 1)
	switch op % 3 {
	case 0:
		if i == list.Len() {
			list.Append(protoreflect.ValueOfBytes(value))
		} else {
			list.Set(i, protoreflect.ValueOfBytes(value))
		}
	case 1:
		list.Truncate(i)
	case 2:
		list.Append(protoreflect.ValueOfBytes(nil))
		for j := list.Len() - 1; j > i; j-- {
			list.Set(j, list.Get(j-1))
		}
		list.Set(i, protoreflect.ValueOfBytes(value))
	}
}
