package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/party"
)

func TestTerminalPrompter(t *testing.T) {
	req := party.SignRequest{KeyID: "k1", Digest: bytes.Repeat([]byte{0xab}, 32), Requester: "wallet"}
	var out bytes.Buffer
	p := newTerminalPrompter(strings.NewReader("y\nno\n"), &out)
	ctx := context.Background()
	if ok, err := p.Ask(ctx, req); !ok || err != nil {
		t.Fatalf("'y' must approve: %v %v", ok, err)
	}
	if ok, err := p.Ask(ctx, req); ok || err != nil {
		t.Fatalf("'no' must refuse: %v %v", ok, err)
	}
	if !strings.Contains(out.String(), "key k1") || !strings.Contains(out.String(), "abababab") || !strings.Contains(out.String(), `"wallet"`) {
		t.Fatalf("the prompt must show key, digest and requester:\n%s", out.String())
	}
	if ok, err := p.Ask(ctx, req); ok || err != io.EOF {
		t.Fatalf("closed input must refuse: %v %v", ok, err)
	}

	r, w := io.Pipe()
	defer w.Close()
	slow := newTerminalPrompter(r, io.Discard)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if ok, err := slow.Ask(tctx, req); ok || err == nil {
		t.Fatalf("no answer in time must refuse: %v %v", ok, err)
	}
}
