package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// firstPage are the requests of the listings' first page: 100 records
// (the console's page, and the servers' default).
func firstPage() (*mpcv1.ListKeysRequest, *mpcv1.ListDevicesRequest) {
	return &mpcv1.ListKeysRequest{PageSize: 100}, &mpcv1.ListDevicesRequest{PageSize: 100}
}

// bigAnswers lets a large answer through (gRPC's default is 4 MiB): a page
// of 1000 keys with their attestations is some 2 MB, and grows with them.
var bigAnswers = grpc.MaxCallRecvMsgSize(math.MaxInt32)

// storeMeasure runs the measurements of 'mpcload store': the store's
// own before the coordinator starts, the others on the started coordinator.
type storeMeasure struct {
	run         *loadRun
	cfg         storeConfig
	rep         *storeReport
	fill        *storeFill
	url         string
	metricsAddr string
	admin       mpcv1.AdminServiceClient
	appended    int            // audit entries appended by the measurements
	direct      auditlog.Entry // the last one the store appended directly
}

// all runs every measurement, cheap ones first: the listings' memory would
// hide theirs.
func (m *storeMeasure) all(ctx context.Context) error {
	time.Sleep(storeSettle)
	m.memory(ctx, "idle after start")
	conn, err := m.run.target.Dial("admin")
	if err != nil {
		return err
	}
	defer conn.Close()
	m.admin = mpcv1.NewAdminServiceClient(conn)
	for _, step := range []func(context.Context) error{m.getKey, m.auditedUpdate} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	m.memory(ctx, "after the lookups and appends")
	if err := m.deviceConnect(ctx); err != nil {
		return err
	}
	if err := m.listings(ctx); err != nil {
		return err
	}
	m.memory(ctx, "after connects and listings")
	if err := m.verifyAudit(ctx); err != nil {
		return err
	}
	m.memory(ctx, "after the audit export")
	return nil
}

// memory reads the coordinator's memory now.
func (m *storeMeasure) memory(ctx context.Context, when string) {
	p := memPoint{When: when}
	if pm, ok := procStatus(m.run.procs[0].cmd.Process.Pid); ok {
		p.RSSKiB, p.AnonKiB, p.HWMKiB = pm.rss, pm.anon, pm.hwm
	}
	if ms, err := scrapeMetrics(ctx, m.metricsAddr); err == nil {
		if v := ms["go_memstats_heap_inuse_bytes"]; len(v) > 0 {
			p.HeapKiB = int64(v[0].value) / 1024
		}
	}
	m.rep.Memory = append(m.rep.Memory, p)
}

// timed runs call repeat times, each under the call timeout, and adds its
// median, minimum and maximum to the report; call returns how many items
// and bytes its answer had.
func (m *storeMeasure) timed(ctx context.Context, name string, repeat int, call func(ctx context.Context, i int) (items, bytes int, err error)) error {
	m.run.logf("%s, %d times", name, repeat)
	st := callStat{Name: name, Repeats: repeat}
	var ms []float64
	for i := range repeat {
		cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
		t0 := time.Now()
		items, bytes, err := call(cctx, i)
		d := time.Since(t0)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ms = append(ms, float64(d.Microseconds())/1000)
		st.Items, st.Bytes = items, bytes
	}
	slices.Sort(ms)
	st.MedianMS, st.MinMS, st.MaxMS = roundTo(median(ms), 0.01), roundTo(ms[0], 0.01), roundTo(ms[len(ms)-1], 0.01)
	m.rep.Calls = append(m.rep.Calls, st)
	return nil
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// keyAt is the i-th of repeat keys spread over those written.
func (m *storeMeasure) keyAt(i, repeat int) string {
	ids := m.fill.keyIDs
	return ids[(i*len(ids)/max(repeat, 1)+i)%len(ids)]
}

func (m *storeMeasure) getKey(ctx context.Context) error {
	if len(m.fill.keyIDs) == 0 {
		return nil
	}
	return m.timed(ctx, "GetKey (one key)", m.cfg.repeat, func(ctx context.Context, i int) (int, int, error) {
		resp, err := m.admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: m.keyAt(i, m.cfg.repeat)})
		if err != nil {
			return 0, 0, err
		}
		k := resp.GetKey()
		m.rep.KeyAnswer = keyAnswer{ID: k.GetId(), Attestations: len(k.GetAttestations()), Ethereum: k.GetAddresses().GetEthereum()}
		for _, h := range k.GetHolders() {
			m.rep.KeyAnswer.Holders = append(m.rep.KeyAnswer.Holders, h.GetDeviceName())
		}
		return 1, proto.Size(resp), nil
	})
}

// auditedUpdate marks keys derivation-only (and back, when they run out):
// an admin action that writes the key and one audit entry in one
// transaction.
func (m *storeMeasure) auditedUpdate(ctx context.Context) error {
	n := len(m.fill.keyIDs)
	if n == 0 {
		return nil
	}
	return m.timed(ctx, "SetDerivationOnly (a key and 1 audit entry)", m.cfg.repeat, func(ctx context.Context, i int) (int, int, error) {
		resp, err := m.admin.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: m.fill.keyIDs[i%n], DerivationOnly: (i/n)%2 == 0})
		if err != nil {
			return 0, 0, err
		}
		m.appended++
		return 1, proto.Size(resp), nil
	})
}

// storeAppend appends entries with the store's AppendAudit from this
// process, before the coordinator starts: the cost of an append onto the
// filled chain without gRPC and the coordinator. It opens a tool's store
// (postgres.Open), which refuses a database coordinator replicas serve:
// its writes are not fenced by the leader lease.
func (m *storeMeasure) storeAppend(ctx context.Context) error {
	st, err := postgres.Open(ctx, m.url, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return m.timed(ctx, "store AppendAudit (1 entry, direct, no coordinator)", m.cfg.repeat, func(ctx context.Context, i int) (int, int, error) {
		e, err := st.AppendAudit(auditlog.Entry{Time: time.Now().UTC(), Action: "mpcload.append", Actor: "mpcload", Result: "ok", Detail: fmt.Sprintf("measurement %d", i+1)})
		if err != nil {
			return 0, 0, err
		}
		m.appended++
		m.direct = e
		return 1, 0, nil
	})
}

// deviceConnect connects devices that hold keys, one at a time, each until
// its KeySync.
func (m *storeMeasure) deviceConnect(ctx context.Context) error {
	if len(m.fill.keyIDs) == 0 {
		return nil // no device holds a key: none gets a KeySync
	}
	addr, pins, err := m.run.target.Endpoint()
	if err != nil {
		return err
	}
	fl := m.fill.fleet
	// Key i is held by devices 3i, 3i+1, 3i+2 (mod the devices): the first
	// min(3*keys, devices) devices hold keys.
	holding := min(fillHolders*len(m.fill.keyIDs), len(fl.devs))
	return m.timed(ctx, "device connect (dial to its KeySync)", m.cfg.repeat, func(ctx context.Context, i int) (int, int, error) {
		d := (i*holding/m.cfg.repeat + i) % holding
		n, err := connectUntilKeySync(ctx, addr, pins[0], fl.ids[d], fl.devs[d].ID)
		return n, 0, err
	})
}

func (m *storeMeasure) listings(ctx context.Context) error {
	keysReq, devsReq := firstPage()
	if err := m.timed(ctx, "ListKeys (first page, "+pageOf(keysReq)+")", m.cfg.listRepeat, func(ctx context.Context, _ int) (int, int, error) {
		resp, err := m.admin.ListKeys(ctx, keysReq, bigAnswers)
		return len(resp.GetKeys()), proto.Size(resp), err
	}); err != nil {
		return err
	}
	return m.timed(ctx, "ListDevices (first page, "+pageOf(devsReq)+")", m.cfg.listRepeat, func(ctx context.Context, _ int) (int, int, error) {
		resp, err := m.admin.ListDevices(ctx, devsReq, bigAnswers)
		return len(resp.GetDevices()), proto.Size(resp), err
	})
}

// pageSized is a listing request.
type pageSized interface{ GetPageSize() int32 }

// pageOf says what page a listing request asks for.
func pageOf(req pageSized) string {
	if req.GetPageSize() == 0 {
		return "page_size unset: the server's default"
	}
	return fmt.Sprintf("page_size %d", req.GetPageSize())
}

// verifyAudit exports the whole chain through ExportAudit, in pages of
// 1000 as 'mpcctl audit export' does, and verifies it as 'mpcctl audit
// verify' does, as it arrives.
func (m *storeMeasure) verifyAudit(ctx context.Context) error {
	m.run.logf("exporting and verifying the audit chain")
	want := uint64(m.cfg.audit + m.appended)
	a := &m.rep.Audit
	a.Height = want
	pr, pw := io.Pipe()
	var height uint64
	go func() { pw.CloseWithError(exportAudit(ctx, m.admin, pw, &height)) }()
	t0 := time.Now()
	n, head, err := auditlog.Verify(pr)
	pr.CloseWithError(errors.New("verification stopped"))
	a.Seconds = roundTo(time.Since(t0).Seconds(), 0.1)
	var broken *auditlog.BrokenError
	switch {
	case errors.As(err, &broken):
		a.Broken = broken.Error()
	case err != nil:
		return fmt.Errorf("audit export: %w", err)
	}
	a.Verified, a.Head = n, head
	if a.DirectAppendKept, err = m.directKept(ctx); err != nil {
		return err
	}
	if a.Broken == "" && (uint64(n) != want || height != want || !a.DirectAppendKept) {
		a.Broken = fmt.Sprintf("verified %d entries of a chain %d high, the store's last direct append (seq %d) kept: %t; want %d entries",
			n, height, m.direct.Seq, a.DirectAppendKept, want)
	}
	a.OK = a.Broken == ""
	return nil
}

// directKept reports whether the chain holds the store's last direct
// append, as it was sealed.
func (m *storeMeasure) directKept(ctx context.Context) (bool, error) {
	resp, err := m.admin.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: m.direct.Seq, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("audit export: %w", err)
	}
	if len(resp.GetEntries()) != 1 {
		return false, nil
	}
	var e auditlog.Entry
	if err := json.Unmarshal(resp.GetEntries()[0], &e); err != nil {
		return false, fmt.Errorf("audit entry %d: %w", m.direct.Seq, err)
	}
	return e.Seq == m.direct.Seq && e.Hash == m.direct.Hash, nil
}

// exportAudit writes the chain as JSON lines, as 'mpcctl audit export'
// does, and the height the coordinator reported.
func exportAudit(ctx context.Context, admin mpcv1.AdminServiceClient, w io.Writer, height *uint64) error {
	const page = 1000
	for next := uint64(1); ; next += page {
		cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
		resp, err := admin.ExportAudit(cctx, &mpcv1.ExportAuditRequest{SinceSeq: next, Limit: page}, bigAnswers)
		cancel()
		if err != nil {
			return err
		}
		*height = resp.GetHeight()
		for _, e := range resp.GetEntries() {
			if _, err := w.Write(append(e, '\n')); err != nil {
				return err
			}
		}
		if len(resp.GetEntries()) < page {
			return nil
		}
	}
}

// roundTo rounds v to a step of 0.1, 0.01...: dividing by the inverse
// prints as the short decimal (164.1, not 164.10000000000002).
func roundTo(v, step float64) float64 {
	inv := math.Round(1 / step)
	return math.Round(v*inv) / inv
}
