package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/crosscheck"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// signedCall is a successful Sign call, kept to ask for it again.
type signedCall struct {
	key       loadKey
	requestID string
	digest    []byte
	rsv       []byte
}

// loadResult is what the clients saw.
type loadResult struct {
	mu        sync.Mutex
	latencies []time.Duration // successful calls
	wrong     int
	failed    int
	codes     map[string]int
	samples   map[string]string // one message per code
	done      []signedCall
	elapsed   time.Duration
}

func (res *loadResult) stats() loadStats {
	s := latencyStats(res.latencies)
	s.Calls = len(res.latencies) + res.failed + res.wrong
	s.OK = len(res.latencies)
	s.Failed = res.failed
	s.Wrong = res.wrong
	s.ElapsedMS = ms(res.elapsed)
	if res.elapsed > 0 {
		s.PerSecond = float64(s.OK) / res.elapsed.Seconds()
	}
	return s
}

// signLoad runs the clients: each has its own connection and signs in a
// loop with the keys in turn until the duration is over; calls still
// running then are waited for and counted.
func (r *loadRun) signLoad(ctx context.Context, keys []loadKey) (*loadResult, error) {
	res := &loadResult{codes: map[string]int{}, samples: map[string]string{}}
	var runID [6]byte
	if _, err := rand.Read(runID[:]); err != nil {
		return nil, err
	}
	var clients []*mpcv1Clients
	for range r.cfg.clients {
		c, closeConn, err := r.client("signer")
		if err != nil {
			return nil, err
		}
		defer closeConn()
		clients = append(clients, c)
	}
	start := time.Now()
	stopAt := start.Add(r.cfg.duration)
	var wg sync.WaitGroup
	for ci, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				k := keys[(ci+n)%len(keys)]
				reqID := fmt.Sprintf("load-%x-%d-%d", runID, ci, n)
				d := sha256.Sum256([]byte(reqID))
				cctx, cancel := context.WithTimeout(ctx, loadCallTimeout)
				t0 := time.Now()
				resp, err := c.signer.Sign(cctx, &mpcv1.SignRequest{KeyId: k.id, Digest: d[:], RequestId: reqID})
				lat := time.Since(t0)
				cancel()
				res.record(k, reqID, d[:], resp, err, lat, r.cfg.threshold+1)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, ctx.Err()
}

// record checks one call's answer: a signature must verify independently
// under the key, come from t+1 signers and be for this key.
func (res *loadResult) record(k loadKey, reqID string, digest []byte, resp *mpcv1.SignResponse, err error, lat time.Duration, signers int) {
	var bad error
	if err == nil {
		bad = crosscheck.ECDSA(k.pub, digest, resp)
		if bad == nil && (resp.GetKeyId() != k.id || !bytes.Equal(resp.GetPublicKey(), k.pub) || len(resp.GetSigners()) != signers || resp.GetReplayed()) {
			bad = errors.New("the answer names another key, signer count or a replay")
		}
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	switch {
	case err != nil:
		res.failed++
		st := status.Convert(err)
		res.codes[st.Code().String()]++
		if _, ok := res.samples[st.Code().String()]; !ok {
			res.samples[st.Code().String()] = st.Message()
		}
	case bad != nil:
		res.wrong++
		if _, ok := res.samples["wrong signature"]; !ok {
			res.samples["wrong signature"] = bad.Error()
		}
	default:
		res.latencies = append(res.latencies, lat)
		res.done = append(res.done, signedCall{key: k, requestID: reqID, digest: digest, rsv: resp.GetSignatureRsv()})
	}
}

// replayAll asks again for every signature the clients got, a few at a
// time: the coordinator must return each stored one unchanged, marked as a
// replay (none lost, none re-signed).
func replayAll(ctx context.Context, c *mpcv1Clients, done []signedCall) loadReplay {
	const workers = 8
	var (
		rep  loadReplay
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan signedCall)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sc := range next {
				cctx, cancel := context.WithTimeout(ctx, loadCallTimeout)
				resp, err := c.signer.Sign(cctx, &mpcv1.SignRequest{KeyId: sc.key.id, Digest: sc.digest, RequestId: sc.requestID})
				cancel()
				bad := err != nil || !resp.GetReplayed() || !bytes.Equal(resp.GetSignatureRsv(), sc.rsv)
				mu.Lock()
				rep.Checked++
				if bad {
					rep.Mismatched++
				}
				mu.Unlock()
			}
		}()
	}
	for _, sc := range done {
		next <- sc
	}
	close(next)
	wg.Wait()
	return rep
}

// sessionsAfter waits (briefly) for the coordinator to report no session in
// flight and returns what is left, with its signing sessions by result.
func sessionsAfter(ctx context.Context, metricsAddr string) (inFlight int, byResult map[string]int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := scrapeMetrics(ctx, metricsAddr)
		if err == nil {
			inFlight = int(m.sum("mpc_sessions_in_flight", nil))
			byResult = map[string]int{}
			for _, res := range []string{"ok", "failed", "timeout", "canceled"} {
				if v := int(m.sum("mpc_sessions_total", map[string]string{"kind": "sign", "result": res})); v > 0 {
					byResult[res] = v
				}
			}
			if inFlight == 0 {
				return inFlight, byResult
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return inFlight, byResult
		}
		time.Sleep(500 * time.Millisecond)
	}
}
