package coordinator_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// metricValue gathers reg and returns the value of the series name{labels}
// (a histogram's sample count), and whether it exists. labels must name
// every label of the series.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// labelValues lists the values label takes across name's series.
func labelValues(t *testing.T, reg prometheus.Gatherer, name, label string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func wantMetric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(t, reg, name, labels)
	if !ok || got != want {
		t.Fatalf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}

// eventually waits for a gauge the devices update asynchronously.
func eventually(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got, ok := metricValue(t, reg, name, labels); ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			wantMetric(t, reg, name, labels, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var tamper atomic.Bool
	relay := func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
		if tamper.Load() && !m.GetBroadcast() {
			m = proto.Clone(m).(*mpcv1.SessionMessage)
			m.Payload[len(m.Payload)/2] ^= 1
		}
		deliver(m)
	}
	c := testkit.New(t, testkit.Options{SignTimeout: 6 * time.Second, Metrics: reg, Relay: relay})
	ctx := context.Background()
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	bi := buildinfo.Read()
	wantMetric(t, reg, "mpc_build_info", l("version", bi.Version, "tss_lib", bi.TSSLib), 1)
	wantMetric(t, reg, "mpc_devices_connected", nil, 0)
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "sign", "result", "ok"), 0) // present before the first session
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "reshare", "result", "ok"), 0)

	c.AddDevice(t, "a", testkit.FixtureSets(t, 3)[:1])
	c.AddDevice(t, "b", testkit.FixtureSets(t, 4)[:1])
	wantMetric(t, reg, "mpc_devices_connected", nil, 2)
	eventually(t, reg, "mpc_device_preparams_ready", l("device", "a"), 1)
	eventually(t, reg, "mpc_device_preparams_ready", l("device", "b"), 1)

	key := c.CreateKey(t, 1, "a", "b") // 2-of-2: an abort is not hidden by a retry with another subset
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "keygen", "result", "ok"), 1)
	wantMetric(t, reg, "mpc_session_duration_seconds", l("kind", "keygen", "result", "ok"), 1)
	// Keygen took each device's only set, and test devices never make more.
	eventually(t, reg, "mpc_device_preparams_ready", l("device", "a"), 0)
	eventually(t, reg, "mpc_device_preparams_ready", l("device", "b"), 0)

	const signs = 3
	for i := range signs {
		if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(fmt.Sprint("metrics ", i))}); err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
	}
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "sign", "result", "ok"), signs)
	wantMetric(t, reg, "mpc_session_duration_seconds", l("kind", "sign", "result", "ok"), signs)
	// One round sample per round of each session: tss-lib's ECDSA signing
	// has 9 rounds, its keygen 3; the label is the round number.
	for r := 1; r <= 9; r++ {
		wantMetric(t, reg, "mpc_session_round_seconds", l("kind", "sign", "round", fmt.Sprint(r)), signs)
	}
	for r := 1; r <= 3; r++ {
		wantMetric(t, reg, "mpc_session_round_seconds", l("kind", "keygen", "round", fmt.Sprint(r)), 1)
	}
	if got := labelValues(t, reg, "mpc_session_round_seconds", "round"); len(got) != 9+3 {
		t.Fatalf("round labels %v, want 1-9 (sign) and 1-3 (keygen)", got)
	}
	// Two devices paired, enrolled and approved (3 entries each), one key, the signatures.
	wantMetric(t, reg, "mpc_audit_log_height", nil, 2*3+1+signs)
	if got := labelValues(t, reg, "mpc_session_aborts_total", "culprit"); len(got) != 0 {
		t.Fatalf("aborts recorded before any abort: %v", got)
	}

	// A relay that alters point-to-point payloads makes the session abort.
	tamper.Store(true)
	_, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("metrics tampered")})
	tamper.Store(false)
	if code(err) != codes.Aborted {
		t.Fatalf("tampered sign: want Aborted, got %v", err)
	}
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "sign", "result", "failed"), 1)
	wantMetric(t, reg, "mpc_session_duration_seconds", l("kind", "sign", "result", "failed"), 1)
	wantMetric(t, reg, "mpc_sessions_total", l("kind", "sign", "result", "ok"), signs)
	// The culprit labels are the devices the error blames, or "none".
	want := []string{"none"}
	if _, blamed, ok := strings.Cut(err.Error(), "; blamed: "); ok {
		want = strings.Split(blamed, ", ")
		sort.Strings(want)
	}
	if got := labelValues(t, reg, "mpc_session_aborts_total", "culprit"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("abort culprits %v, want %v (error: %v)", got, want, err)
	}
	for _, culprit := range want {
		wantMetric(t, reg, "mpc_session_aborts_total", l("kind", "sign", "culprit", culprit), 1)
	}
	for _, kind := range []string{"keygen", "sign", "reshare"} {
		wantMetric(t, reg, "mpc_sessions_in_flight", l("kind", kind), 0)
	}

	c.StopDevice(t, "b")
	wantMetric(t, reg, "mpc_devices_connected", nil, 1)
	if v, ok := metricValue(t, reg, "mpc_device_preparams_ready", l("device", "b")); ok {
		t.Fatalf("a disconnected device still reports a pool level (%v)", v)
	}
	wantMetric(t, reg, "mpc_device_preparams_ready", l("device", "a"), 0)
}
