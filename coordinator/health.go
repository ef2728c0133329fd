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

// healthService is the standard gRPC health service (grpc.health.v1.Health).
// Every name in healthServices is NOT_SERVING until the listener serves,
// SERVING while it does, and NOT_SERVING again once shutdown began. Check,
// the readiness probe, also pings the store: a store that does not answer
// makes a SERVING coordinator report NOT_SERVING.
type healthService struct {
	*health.Server
	store    Store
	log      *slog.Logger
	stopping chan struct{}
	once     sync.Once
}

func newHealthService(st Store, log *slog.Logger) *healthService {
	h := &healthService{Server: health.NewServer(), store: st, log: log, stopping: make(chan struct{})}
	for _, name := range healthServices {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// serving marks the coordinator SERVING.
func (h *healthService) serving() {
	for _, name := range healthServices {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
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
	resp, err := h.Server.Check(ctx, req)
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return resp, err
	}
	if err := h.store.Ping(); err != nil {
		h.log.Warn("health check: the store does not answer", "err", err)
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
	}
	return resp, nil
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
