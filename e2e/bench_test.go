package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/rawtss"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	"github.com/mpcsign/mpcsign/signclient"
)

// benchSetup is a coordinator with three party processes and a 2-of-3 key,
// and the same shape of key made by raw tss-lib parties in this process.
// The service runs as in production: the devices on a signed roster, and
// every Sign call signed by a registered requester key (each device
// verifies it once per session).
type benchSetup struct {
	err    error
	wallet *signclient.Client
	keyID  string
	pub    []byte
	raw    *rawtss.Key
}

// benchCluster starts a coordinator and three devices on a signed roster,
// makes a 2-of-3 key of the curve under the operator's signature, and
// registers a requester for it: the wallet that signs each call.
func benchCluster(b *testing.B, curve string) (keyInfo, *signclient.Client) {
	c := newCluster(b)
	c.startCoordinator(b)
	op := c.newOperator(b, "alice")
	genesis := c.initRoster(b, op)
	names := []string{"phone", "laptop", "server"}
	for _, n := range names {
		c.runParty(b, c.enrollSigned(b, op, n, genesis).device)
	}
	c.waitReady(b, names...)
	var key keyInfo
	c.opJSON(b, op, &key, "keys", "create", "--curve", curve, "--threshold", "1", "--devices", strings.Join(names, ","))
	rq := c.newRequester(b, op, "bench-wallet", "--keys", key.ID)
	wallet, err := signclient.New(c.dialGRPC(b, "signer.token"), rq.signer(b))
	if err != nil {
		b.Fatal(err)
	}
	return key, wallet
}

func setupBench(b *testing.B) *benchSetup {
	s := &benchSetup{}
	func() {
		key, wallet := benchCluster(b, "secp256k1")
		s.keyID = key.ID
		s.pub = mustHex(b, "public key", key.PublicKey, 33)
		s.wallet = wallet

		f, err := os.Open(preparamsFixture(4))
		if err != nil {
			s.err = err
			return
		}
		defer f.Close()
		sets, err := preparams.ReadTestFixtures(f)
		if err != nil {
			s.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s.raw, s.err = rawtss.Keygen(ctx, 1, sets)
	}()
	if s.err != nil {
		b.Fatal(s.err)
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkSign signs through the real service (coordinator and three party
// processes on loopback, 2 of them signing) and, alternately in the same
// run, with raw tss-lib parties in one process. It reports both medians and
// their ratio (service / raw).
//
//	go test ./e2e -run '^$' -bench BenchmarkSign -benchtime 30x
func BenchmarkSign(b *testing.B) {
	// The parent benchmark runs once and owns the processes; the sub-benchmark
	// may run several times (Go's b.N probing) against them.
	s := setupBench(b)
	b.Run("service-vs-raw", func(b *testing.B) { benchSign(b, s) })
}

func benchSign(b *testing.B, s *benchSetup) {
	ctx := context.Background()
	digest := func(i int) []byte {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(time.Now().UnixNano())+uint64(i))
		d := sha256.Sum256(n[:])
		return d[:]
	}
	// Warm up both paths (connections, caches) outside the measurement.
	for i := 0; i < 2; i++ {
		if _, err := s.wallet.SignDigest(ctx, s.keyID, digest(i), ""); err != nil {
			b.Fatal(err)
		}
		if _, err := s.raw.Sign(ctx, digest(i)); err != nil {
			b.Fatal(err)
		}
	}
	var service, raw []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := digest(i)
		t0 := time.Now()
		resp, err := s.wallet.SignDigest(ctx, s.keyID, d, "") // signs the request too
		service = append(service, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if err := sigfmt.VerifyDER(s.pub, d, resp.GetSignatureDer()); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		sig, err := s.raw.Sign(ctx, d)
		raw = append(raw, time.Since(t0))
		if err != nil || len(sig.GetR()) == 0 {
			b.Fatal("raw sign:", err)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	ratio := float64(median(service)) / float64(median(raw))
	b.ReportMetric(ms(median(service)), "service-median-ms")
	b.ReportMetric(ms(median(raw)), "raw-tss-median-ms")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d signatures each: service median %.1f ms, raw tss-lib median %.1f ms, ratio %.2f", b.N, ms(median(service)), ms(median(raw)), ratio)
	fmt.Fprintf(os.Stderr, "service median %.1f ms, raw tss-lib median %.1f ms, ratio %.2f (n=%d)\n", ms(median(service)), ms(median(raw)), ratio, b.N)
}

// BenchmarkSignEd25519 signs messages with a 2-of-3 Ed25519 key through the
// real service and, alternately in the same run, with raw tss-lib EdDSA
// parties in one process; it reports both medians and their ratio.
//
//	go test ./e2e -run '^$' -bench BenchmarkSignEd25519 -benchtime 30x
func BenchmarkSignEd25519(b *testing.B) {
	key, wallet := benchCluster(b, "ed25519")
	pub := ed25519.PublicKey(mustHex(b, "public key", key.PublicKey, ed25519.PublicKeySize))
	ctx := context.Background()
	raw, err := rawtss.KeygenEdDSA(ctx, 3, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("service-vs-raw", func(b *testing.B) {
		msg := func(i int) []byte { return fmt.Appendf(nil, "\x00\x00ed25519 bench %d %d", i, time.Now().UnixNano()) }
		for i := 0; i < 2; i++ { // warm up both paths
			if _, err := wallet.SignMessage(ctx, key.ID, msg(i)); err != nil {
				b.Fatal(err)
			}
			if _, err := rawtss.SignEdDSA(ctx, raw, msg(i)); err != nil {
				b.Fatal(err)
			}
		}
		var service, rawd []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m := msg(i)
			t0 := time.Now()
			resp, err := wallet.SignMessage(ctx, key.ID, m)
			service = append(service, time.Since(t0))
			if err != nil || !ed25519.Verify(pub, m, resp.GetSignature()) {
				b.Fatal("service signature:", err)
			}
			t0 = time.Now()
			if _, err := rawtss.SignEdDSA(ctx, raw, m); err != nil {
				b.Fatal("raw sign:", err)
			}
			rawd = append(rawd, time.Since(t0))
		}
		b.StopTimer()
		reportRatio(b, service, rawd)
	})
}

// BenchmarkSignBatch measures a batch Sign call (its items run as concurrent
// sessions) against the same number of single calls made one after another,
// on a 2-of-3 secp256k1 key, and reports signatures per second of both.
//
//	go test ./e2e -run '^$' -bench BenchmarkSignBatch -benchtime 5x
func BenchmarkSignBatch(b *testing.B) {
	s := setupBench(b)
	const size = 8
	b.Run(fmt.Sprintf("batch-of-%d-vs-sequential", size), func(b *testing.B) {
		ctx := context.Background()
		var batchTime, seqTime time.Duration
		for i := 0; i < b.N; i++ {
			var ds [][]byte
			for j := range size {
				d := sha256.Sum256(fmt.Appendf(nil, "batch %d %d %d", i, j, time.Now().UnixNano()))
				ds = append(ds, d[:])
			}
			t0 := time.Now()
			resp, err := s.wallet.Sign(ctx, signclient.Request{KeyID: s.keyID, Digests: ds}) // one signature over the batch
			batchTime += time.Since(t0)
			if err != nil || len(resp.GetResults()) != size {
				b.Fatal("batch:", err)
			}
			for j, r := range resp.GetResults() {
				if r.GetSignature() == nil {
					b.Fatalf("batch item %d: %s %s", j, r.GetErrorCode(), r.GetErrorMessage())
				}
				if err := sigfmt.VerifyDER(s.pub, ds[j], r.GetSignature().GetSignatureDer()); err != nil {
					b.Fatal(err)
				}
			}
			t0 = time.Now()
			for _, d := range ds {
				if _, err := s.wallet.SignDigest(ctx, s.keyID, d, ""); err != nil {
					b.Fatal(err)
				}
			}
			seqTime += time.Since(t0)
		}
		n := float64(b.N * size)
		b.ReportMetric(n/batchTime.Seconds(), "batch-sigs/s")
		b.ReportMetric(n/seqTime.Seconds(), "sequential-sigs/s")
		b.ReportMetric(0, "ns/op")
		fmt.Fprintf(os.Stderr, "batch of %d: %.2f signatures/s; one at a time: %.2f signatures/s (n=%d)\n", size, n/batchTime.Seconds(), n/seqTime.Seconds(), int(n))
	})
}

func reportRatio(b *testing.B, service, raw []time.Duration) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	ratio := float64(median(service)) / float64(median(raw))
	b.ReportMetric(ms(median(service)), "service-median-ms")
	b.ReportMetric(ms(median(raw)), "raw-tss-median-ms")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "service median %.1f ms, raw tss-lib median %.1f ms, ratio %.2f (n=%d)\n", ms(median(service)), ms(median(raw)), ratio, len(service))
}
