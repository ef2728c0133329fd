package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// demoDevice is a device agent running in this process.
type demoDevice struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// demoSets is how many pre-parameter sets each device makes: one per key
// or reshare it takes part in.
var demoSets = map[string]int{"phone": 2, "laptop": 2, "server": 1, "tablet": 1}

// startDemoDevice enrols a device with code in its own keystore under dir
// and runs it; sas is the short authentication string it shows. fixtures,
// when set, is a TEST-ONLY pre-parameter file to use instead of generating.
func startDemoDevice(ctx context.Context, dir, name, code string, sets int, fixtures string, log *slog.Logger) (d *demoDevice, sas string, err error) {
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	ks, err := keystore.Open(dir, keystore.NewPassphrase([]byte(hex.EncodeToString(pw[:]))), keystore.Options{Logger: log})
	if err != nil {
		return nil, "", err
	}
	cfg, err := party.Enroll(ctx, ks, code)
	if err != nil {
		ks.Close()
		return nil, "", err
	}
	sas = cfg.SAS
	// Each device generates the fresh sets the demo needs and then stops,
	// leaving the cores to the signing that follows.
	var made atomic.Int32
	generate := func(ctx context.Context) (*preparams.Set, error) {
		if int(made.Load()) >= sets {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		s, err := preparams.Generate(ctx, 0)
		if err == nil {
			made.Add(1)
		}
		return s, err
	}
	a, err := party.New(party.Options{Store: ks, Logger: log, PoolTarget: sets, Generate: generate})
	if err != nil {
		ks.Close()
		return nil, "", err
	}
	if fixtures != "" {
		if err := addTestFixtures(a, fixtures, log); err != nil {
			ks.Close()
			return nil, "", err
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	d = &demoDevice{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer ks.Close()
		if err := a.Run(dctx); err != nil {
			log.Error("device stopped", "err", err)
		}
	}()
	return d, sas, nil
}

func waitOnline(ctx context.Context, admin mpcv1.AdminServiceClient, names []string) error {
	for {
		resp, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		online := 0
		for _, d := range resp.GetDevices() {
			for _, n := range names {
				if d.GetName() == n && d.GetOnline() {
					online++
				}
			}
		}
		if online == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitOffline(ctx context.Context, admin mpcv1.AdminServiceClient, name string) error {
	for {
		resp, err := admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		online := false
		for _, d := range resp.GetDevices() {
			if d.GetName() == name && d.GetOnline() {
				online = true
			}
		}
		if !online {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
