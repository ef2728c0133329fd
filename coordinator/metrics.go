package coordinator

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Session results, the values of the "result" label.
const (
	resultOK       = "ok"
	resultTimeout  = "timeout"  // the session's deadline passed
	resultCanceled = "canceled" // the caller went away
	resultFailed   = "failed"   // any other abort
)

// metrics are the coordinator's Prometheus metrics (listed in
// docs/metrics.md). A nil *metrics records nothing, so code paths and tests
// that run without a registry need no checks.
type metrics struct {
	sessions         *prometheus.CounterVec
	sessionDuration  *prometheus.HistogramVec
	roundDuration    *prometheus.HistogramVec
	sessionsInFlight *prometheus.GaugeVec
	aborts           *prometheus.CounterVec
	pauses           *prometheus.CounterVec
	blame            *prometheus.CounterVec
	devicesConnected prometheus.Gauge
	preparamsReady   *prometheus.GaugeVec
	auditHeight      prometheus.Gauge
}

// newMetrics registers the metrics with reg; a nil reg gives nil metrics.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mpc_sessions_total",
			Help: "Protocol sessions (keygen, sign) that ended, by kind and result (ok, failed, timeout, canceled).",
		}, []string{"kind", "result"}),
		sessionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mpc_session_duration_seconds",
			Help:    "Duration of protocol sessions from start to result or abort, by kind and result.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"kind", "result"}),
		roundDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mpc_session_round_seconds",
			Help:    "Duration of one protocol round, from its first relayed message to the next round's first (the last round: to the session's successful end), by kind and round.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind", "round"}),
		sessionsInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mpc_sessions_in_flight",
			Help: "Protocol sessions running now, by kind.",
		}, []string{"kind"}),
		aborts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mpc_session_aborts_total",
			Help: "Aborted sessions by kind and blamed device name (\"none\" when nobody was blamed); an abort that blames two devices counts once for each.",
		}, []string{"kind", "culprit"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mpc_device_pauses_total",
			Help: "Times a device was paused for a key after repeated signing aborts blamed on it.",
		}, []string{"device"}),
		blame: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mpc_blame_verdicts_total",
			Help: "Aborted sessions that blamed devices, by kind and what the blame rests on: proven (seen by the coordinator or evidence checked), accuser-lied (the accuser's evidence cleared the accused), suspected (not proven); and routed: devices struck because every failed attempt of a signature had them and the one that succeeded did not.",
		}, []string{"kind", "verdict"}),
		devicesConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mpc_devices_connected",
			Help: "Devices with an authenticated link to the coordinator.",
		}),
		preparamsReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mpc_device_preparams_ready",
			Help: "Pre-parameter sets ready in a connected device's pool, as the device last reported.",
		}, []string{"device"}),
		auditHeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mpc_audit_log_height",
			Help: "Sequence number of the newest audit log entry.",
		}),
	}
	// Series that exist from the start read 0 rather than missing, so that
	// rates and alerts work before the first session.
	for _, kind := range []string{kindName(mpcv1.SessionKind_SESSION_KIND_KEYGEN), kindName(mpcv1.SessionKind_SESSION_KIND_SIGN), kindName(mpcv1.SessionKind_SESSION_KIND_RESHARE)} {
		m.sessionsInFlight.WithLabelValues(kind)
		for _, v := range []string{string(BlameProven), string(BlameAccuserLied), string(BlameSuspected), verdictRouted} {
			m.blame.WithLabelValues(kind, v)
		}
		for _, result := range []string{resultOK, resultFailed, resultTimeout, resultCanceled} {
			m.sessions.WithLabelValues(kind, result)
			m.sessionDuration.WithLabelValues(kind, result)
		}
	}
	bi := buildinfo.Read()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mpc_build_info",
		Help: "Always 1; the labels tell the coordinator's version and the tss-lib version linked in.",
	}, []string{"version", "tss_lib"})
	build.WithLabelValues(bi.Version, bi.TSSLib).Set(1)
	for _, c := range []prometheus.Collector{m.sessions, m.sessionDuration, m.roundDuration, m.sessionsInFlight, m.aborts, m.pauses, m.blame, m.devicesConnected, m.preparamsReady, m.auditHeight, build} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) sessionStarted(kind string) {
	if m == nil {
		return
	}
	m.sessionsInFlight.WithLabelValues(kind).Inc()
}

// sessionEnded records a session's end; ctxErr is its context's error.
func (m *metrics) sessionEnded(kind string, ok bool, ctxErr error, took time.Duration) {
	if m == nil {
		return
	}
	result := resultOK
	switch {
	case ok:
	case errors.Is(ctxErr, context.DeadlineExceeded):
		result = resultTimeout
	case errors.Is(ctxErr, context.Canceled):
		result = resultCanceled
	default:
		result = resultFailed
	}
	m.sessionsInFlight.WithLabelValues(kind).Dec()
	m.sessions.WithLabelValues(kind, result).Inc()
	m.sessionDuration.WithLabelValues(kind, result).Observe(took.Seconds())
}

// maxRoundLabel caps the "round" label: tss-lib's protocols have at most 9
// rounds, and a round number is what a party put in its envelope, so a
// larger one is counted as "other" rather than creating a series.
const maxRoundLabel = 12

func roundLabel(round uint32) string {
	if round == 0 || round > maxRoundLabel {
		return "other"
	}
	return strconv.FormatUint(uint64(round), 10)
}

// roundEnded records how long one round of a session took.
func (m *metrics) roundEnded(kind string, round uint32, took time.Duration) {
	if m == nil {
		return
	}
	m.roundDuration.WithLabelValues(kind, roundLabel(round)).Observe(took.Seconds())
}

// sessionAborted counts an abort once per blamed device (names), or once
// as "none".
func (m *metrics) sessionAborted(kind string, culprits []string) {
	if m == nil {
		return
	}
	if len(culprits) == 0 {
		m.aborts.WithLabelValues(kind, "none").Inc()
		return
	}
	for _, c := range culprits {
		m.aborts.WithLabelValues(kind, c).Inc()
	}
}

// verdictRouted is the blame metric's verdict for a device struck under
// the common-member rule (signer.go).
const verdictRouted = "routed"

// blamed counts an abort's blame verdict (none when nobody was blamed).
func (m *metrics) blamed(kind string, b Blame) {
	if m == nil || b == "" {
		return
	}
	m.blame.WithLabelValues(kind, string(b)).Inc()
}

// routed counts devices struck under the common-member rule.
func (m *metrics) routed(kind string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.blame.WithLabelValues(kind, verdictRouted).Add(float64(n))
}

func (m *metrics) devicePaused(device string) {
	if m == nil {
		return
	}
	m.pauses.WithLabelValues(device).Inc()
}

func (m *metrics) devices(connected int) {
	if m == nil {
		return
	}
	m.devicesConnected.Set(float64(connected))
}

func (m *metrics) preparams(device string, ready uint32) {
	if m == nil {
		return
	}
	m.preparamsReady.WithLabelValues(device).Set(float64(ready))
}

// deviceGone drops a disconnected device's pool level: it is unknown until
// the device reports again.
func (m *metrics) deviceGone(device string) {
	if m == nil {
		return
	}
	m.preparamsReady.DeleteLabelValues(device)
}

func (m *metrics) audited(seq uint64) {
	if m == nil {
		return
	}
	m.auditHeight.Set(float64(seq))
}
