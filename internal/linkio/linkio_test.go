package linkio

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReceiveDeliversThenFails(t *testing.T) {
	msgs := []int{1, 2, 3}
	end := errors.New("stream ended")
	recv := func() (int, error) {
		if len(msgs) == 0 {
			return 0, end
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	}
	in, errc := Receive(context.Background(), recv)
	for want := 1; want <= 3; want++ {
		select {
		case got := <-in:
			if got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		case err := <-errc:
			t.Fatalf("ended early: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
	select {
	case err := <-errc:
		if !errors.Is(err, end) {
			t.Fatalf("err = %v, want %v", err, end)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no end")
	}
}

func TestReceiveStopsWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	calls := 0
	recv := func() (int, error) {
		calls++
		if calls > 1 {
			close(returned) // the goroutine asked again: it did not stop
			<-make(chan struct{})
		}
		return 7, nil
	}
	Receive(ctx, recv) // nobody reads in: the goroutine waits to hand 7 over
	cancel()
	select {
	case <-returned:
		t.Fatal("the receiver went on after its context ended")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestSendStopsOnErrorAndOnStop(t *testing.T) {
	out := make(chan int, 3)
	out <- 1
	out <- 2
	var sent []int
	failed := errors.New("send failed")
	errc := Send(context.Background(), out, func(m int) error {
		if m == 2 {
			return failed
		}
		sent = append(sent, m)
		return nil
	}, nil)
	select {
	case err := <-errc:
		if !errors.Is(err, failed) || len(sent) != 1 || sent[0] != 1 {
			t.Fatalf("err %v after sending %v", err, sent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not report the failed send")
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	errc = Send(context.Background(), make(chan int), func(int) error { close(done); return nil }, stop)
	close(stop)
	select {
	case <-done:
		t.Fatal("sent after stop")
	case err := <-errc:
		t.Fatalf("stop reported an error: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
}
