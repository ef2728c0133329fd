package coordinator

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// watchDrain bounds how long a health Watch stream stays open once shutdown
// began; it would otherwise hold up the graceful stop.
const watchDrain = time.Second

// healthServices are the names the health service answers for: "" (the
// whole coordinator) and each API.
var healthServices = []string{
	"",
	mpcv1.SignerService_ServiceDesc.ServiceName,
	mpcv1.AdminService_ServiceDesc.ServiceName,
	mpcv1.PartyLinkService_ServiceDesc.ServiceName,
}

// defaultStoreProbe is how often the store is pinged for Watch
// (Options.HealthProbeInterval).
const defaultStoreProbe = 5 * time.Second

// healthService is the standard gRPC health service (grpc.health.v1.Health).
// Every name in healthServices is SERVING while the listener serves and the
// store answers, NOT_SERVING otherwise: before the listener serves, once
// shutdown began, and while the store does not answer. Check, the readiness
// probe, pings the store itself; Watch sees the store's state as the
// periodic probe (probeStore) or a Check last found it.
type healthService struct {
	*health.Server
	store    Store
	log      *slog.Logger
	stopping chan struct{}
	once     sync.Once

	mu        sync.Mutex
	listening bool
	storeDown bool
}

func newHealthService(st Store, log *slog.Logger) *healthService {
	h := &healthService{Server: health.NewServer(), store: st, log: log, stopping: make(chan struct{})}
	for _, name := range healthServices {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// serving marks the coordinator SERVING, unless the store is down.
func (h *healthService) serving() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listening = true
	h.applyLocked()
}

// storeState records whether the store answered and updates the status
// when that changed; it logs the changes.
func (h *healthService) storeState(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	down := err != nil
	if down == h.storeDown {
		return
	}
	h.storeDown = down
	if down {
		h.log.Warn("health: the store does not answer; not serving", "err", err)
	} else {
		h.log.Info("health: the store answers again")
	}
	h.applyLocked()
}

func (h *healthService) applyLocked() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if h.listening && !h.storeDown {
		st = healthpb.HealthCheckResponse_SERVING
	}
	// After shutdown the server ignores updates: NOT_SERVING stays.
	for _, name := range healthServices {
		h.SetServingStatus(name, st)
	}
}

// probeStore pings the store every interval until ctx ends, so that
// watchers see it fail and recover without anyone calling Check.
func (h *healthService) probeStore(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = defaultStoreProbe
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.storeState(h.store.Ping())
		}
	}
}

// shutdown marks everything NOT_SERVING for good and ends Watch streams.
func (h *healthService) shutdown() {
	h.once.Do(func() {
		close(h.stopping) // first, so that Send sees it with the NOT_SERVING update
		h.Server.Shutdown()
	})
}

func (h *healthService) isStopping() bool {
	select {
	case <-h.stopping:
		return true
	default:
		return false
	}
}

// Check answers the overall or a per-API status, pinging the store first.
func (h *healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.isStopping() {
		h.storeState(h.store.Ping())
	}
	return h.Server.Check(ctx, req)
}

// Watch streams status changes. Once shutdown began it sends NOT_SERVING
// and ends the stream with Unavailable, so watchers do not delay the stop.
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.stopping:
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(watchDrain) // for names without updates
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, &watchStream{ServerStreamingServer: stream, ctx: ctx, cancel: cancel, h: h})
	if h.isStopping() && stream.Context().Err() == nil {
		return ErrShuttingDown
	}
	return err
}

// watchStream ends a Watch stream right after NOT_SERVING was sent during shutdown.
type watchStream struct {
	grpc.ServerStreamingServer[healthpb.HealthCheckResponse]
	ctx    context.Context
	cancel context.CancelFunc
	h      *healthService
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(m *healthpb.HealthCheckResponse) error {
	err := w.ServerStreamingServer.Send(m)
	if m.GetStatus() != healthpb.HealthCheckResponse_SERVING && w.h.isStopping() {
		w.cancel()
	}
	return err
}
