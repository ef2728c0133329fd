package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

func openBulk(t *testing.T, dsn string) *postgres.Bulk {
	t.Helper()
	b, err := postgres.OpenBulk(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func counts(t *testing.T, b *postgres.Bulk) postgres.Counts {
	t.Helper()
	c, err := b.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBulkRecords: devices and keys written in bulk are what the store reads
// back, record for record; a record already stored, or a generator's error,
// fails the whole copy and writes nothing.
func TestBulkRecords(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t)
	b := openBulk(t, dsn) // on an empty database: it creates the schema
	if c := counts(t, b); !c.Empty() {
		t.Fatalf("a fresh database counts %+v", c)
	}
	st := open(t, dsn)
	defer st.Close()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	devs := make([]registry.Device, 5)
	for i := range devs {
		devs[i] = registry.Device{ID: fmt.Sprintf("d%02d", i), Name: fmt.Sprintf("dev-%d", i), Status: registry.DeviceActive,
			IdentityPublicKey: bytes.Repeat([]byte{byte(i)}, 32), PairedAt: at, LastSeen: at.Add(time.Hour)}
	}
	keys := make([]registry.Key, 3)
	for i := range keys {
		keys[i] = registry.Key{ID: fmt.Sprintf("k%02d", i), Curve: registry.CurveSecp256k1, Threshold: 1, PublicKey: []byte{2, byte(i)},
			Holders: []string{"d00", "d01", "d02"}, CreatedAt: at, KeyPublic: []byte(`{"ks":[1,2,3]}`),
			Attestations: []registry.AttRecord{{Body: []byte("body"), Sig: []byte("sig")}}}
	}
	if err := b.PutDevices(ctx, len(devs), func(i int) (registry.Device, error) { return devs[i], nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.PutKeys(ctx, len(keys), func(i int) (registry.Key, error) { return keys[i], nil }); err != nil {
		t.Fatal(err)
	}
	gotDevs, err := st.ListDevices()
	if err != nil || !reflect.DeepEqual(gotDevs, devs) {
		t.Errorf("ListDevices = %+v, %v; want %+v", gotDevs, err, devs)
	}
	if k, err := st.GetKey("k01"); err != nil || !reflect.DeepEqual(k, keys[1]) {
		t.Errorf("GetKey(k01) = %+v, %v; want %+v", k, err, keys[1])
	}
	if ks, err := st.ListKeysOfDevice("d01"); err != nil || len(ks) != 3 || ks[0].ID != "k00" {
		t.Errorf("ListKeysOfDevice(d01) = %d keys, %v; want the 3 copied, in order", len(ks), err)
	}
	if c := counts(t, b); c.Devices != 5 || c.Keys != 3 || c.Audit != 0 || c.Empty() || c.Bytes <= 0 {
		t.Errorf("counts %+v; want 5 devices, 3 keys, no audit entry", c)
	}

	// d03 is stored already: the copy of d05, d03, d06 fails and writes none.
	again := []string{"d05", "d03", "d06"}
	err = b.PutDevices(ctx, len(again), func(i int) (registry.Device, error) { return registry.Device{ID: again[i], Name: again[i]}, nil })
	if err == nil || !strings.Contains(err.Error(), "copy 3 records into devices") {
		t.Errorf("a device stored twice: got %v, want the copy refused", err)
	}
	boom := errors.New("no key 1")
	err = b.PutKeys(ctx, 3, func(i int) (registry.Key, error) {
		if i == 1 {
			return registry.Key{}, boom
		}
		return registry.Key{ID: fmt.Sprintf("new%d", i)}, nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("a generator's error: got %v, want it returned", err)
	}
	if c := counts(t, b); c.Devices != 5 || c.Keys != 3 {
		t.Errorf("after two failed copies: %+v, want 5 devices and 3 keys still", c)
	}
}

// TestBulkAudit: entries appended in bulk chain onto the store's own
// appends, before and after, into one chain that verifies; the store and
// the chain's head agree on its height.
func TestBulkAudit(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t)
	st := open(t, dsn)
	defer st.Close()
	first, err := st.AppendAudit(auditlog.Entry{Action: "first", Result: "ok", Time: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	b := openBulk(t, dsn)
	const n = 250
	head, err := b.AppendAudit(ctx, n, func(i int) auditlog.Entry {
		return auditlog.Entry{Action: "sign", KeyID: fmt.Sprintf("k%d", i), Result: "ok", Time: time.Now().UTC()}
	})
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != first.Seq+n || head.Action != "sign" || head.KeyID != fmt.Sprintf("k%d", n-1) {
		t.Errorf("bulk head %+v; want seq %d, the last entry asked", head, first.Seq+n)
	}
	if same, err := b.AppendAudit(ctx, 0, nil); err != nil || same.Seq != head.Seq || same.Hash != head.Hash {
		t.Errorf("an append of none: %+v, %v; want the head unchanged", same, err)
	}
	last, err := st.AppendAudit(auditlog.Entry{Action: "last", Result: "ok", Time: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if last.Seq != n+2 || last.Prev != head.Hash {
		t.Errorf("the store's append after the bulk: %+v; want seq %d after the bulk head", last, n+2)
	}
	if h, err := st.AuditHeight(); err != nil || h != n+2 {
		t.Errorf("AuditHeight = %d, %v; want %d", h, err, n+2)
	}
	es, err := st.ListAudit(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	for _, e := range es {
		line, err := auditlog.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		export.Write(append(line, '\n'))
	}
	if got, gotHead, err := auditlog.Verify(&export); err != nil || got != n+2 || gotHead != last.Hash {
		t.Errorf("verify: %d entries, head %s, %v; want %d entries ending with %s", got, gotHead, err, n+2, last.Hash)
	}
	if c := counts(t, b); c.Audit != n+2 || c.AuditHead != n+2 {
		t.Errorf("counts %+v; want %d audit entries and head", c, n+2)
	}
}

// TestBulkRefusesServedDatabase: once a replica has taken the leader lease,
// OpenBulk refuses the database: its writes are not fenced.
func TestBulkRefusesServedDatabase(t *testing.T) {
	dsn := newDB(t)
	openBulk(t, dsn) // creates the schema
	run(t, dsn, "UPDATE leader_lease SET token = 1, holder = 'replica-1'")
	b, err := postgres.OpenBulk(context.Background(), dsn)
	if err == nil {
		b.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "coordinator replicas serve this database") {
		t.Fatalf("OpenBulk on a served database: got %v, want it refused", err)
	}
}
