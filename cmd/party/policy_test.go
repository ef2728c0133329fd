package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/party"
)

// screen is a terminal's output: it hands each prompt's code to the test
// once the prompt is on screen.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	codes   chan string
	ignored chan struct{} // a line the prompter ignored
}

var promptCode = regexp.MustCompile(`to approve, type (\d{4}) `)

func newScreen() *screen {
	return &screen{codes: make(chan string, 16), ignored: make(chan struct{}, 16)}
}

func (s *screen) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(b)
	if m := promptCode.FindSubmatch(b); m != nil {
		s.codes <- string(m[1])
	}
	if bytes.Contains(b, []byte(": ignored)")) {
		s.ignored <- struct{}{}
	}
	return len(b), nil
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// terminal starts a prompter on a pipe: type writes one line to it.
func terminal(t *testing.T) (*terminalPrompter, *screen, func(string)) {
	t.Helper()
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	s := newScreen()
	p := newTerminalPrompter(r, s)
	return p, s, func(line string) {
		t.Helper()
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// ask runs one Ask in the background.
func ask(p *terminalPrompter, ctx context.Context, req party.SignRequest) chan [2]any {
	done := make(chan [2]any, 1)
	go func() {
		ok, err := p.Ask(ctx, req)
		done <- [2]any{ok, err}
	}()
	return done
}

// see waits for something the screen shows.
func see[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatal("the screen did not show what the test waits for")
		var zero T
		return zero
	}
}

func answer(t *testing.T, done chan [2]any) (bool, error) {
	t.Helper()
	select {
	case r := <-done:
		err, _ := r[1].(error)
		return r[0].(bool), err
	case <-time.After(time.Minute):
		t.Fatal("the prompt did not return")
		return false, nil
	}
}

func TestTerminalPrompter(t *testing.T) {
	req := party.SignRequest{KeyID: "k1", Digest: bytes.Repeat([]byte{0xab}, 32), Requester: "wallet"}
	ctx := context.Background()
	p, s, typeLine := terminal(t)

	done := ask(p, ctx, req)
	typeLine(see(t, s.codes))
	if ok, err := answer(t, done); !ok || err != nil {
		t.Fatalf("the code shown must approve: %v %v", ok, err)
	}
	if out := s.String(); !strings.Contains(out, "key k1") || !strings.Contains(out, "abababab") || !strings.Contains(out, `"wallet"`) {
		t.Fatalf("the prompt must show key, digest and requester:\n%s", out)
	}
	for _, refusal := range []string{"y", "yes", "no", ""} {
		done := ask(p, ctx, req)
		code := see(t, s.codes) // four digits: never one of the refusals
		typeLine(refusal)
		if ok, err := answer(t, done); ok || err != nil {
			t.Fatalf("%q (the code was %s) must refuse: %v %v", refusal, code, ok, err)
		}
	}

	// Nobody answers in time.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if ok, err := p.Ask(tctx, req); ok || err == nil {
		t.Fatalf("no answer in time must refuse: %v %v", ok, err)
	}

	closed := newTerminalPrompter(strings.NewReader(""), io.Discard)
	if ok, err := closed.Ask(ctx, req); ok || err != io.EOF {
		t.Fatalf("closed input must refuse: %v %v", ok, err)
	}
}

// TestTerminalPrompterLateAnswer: the coordinator ends a prompt (an abort,
// a short deadline) while the person reads it, then at once sends another
// request. The answer typed for the first must not approve the second,
// even when it is the very code the second prompt shows.
func TestTerminalPrompterLateAnswer(t *testing.T) {
	a := party.SignRequest{KeyID: "k1", Digest: bytes.Repeat([]byte{0xaa}, 32), Requester: "wallet"}
	b := party.SignRequest{KeyID: "k1", Digest: bytes.Repeat([]byte{0xbb}, 32), Requester: "wallet"}
	for _, late := range []string{"y", "same code"} {
		t.Run(late, func(t *testing.T) {
			p, s, typeLine := terminal(t)
			p.code = func() (string, error) { return "1234", nil } // every prompt shows the same code
			actx, abort := context.WithCancel(context.Background())
			done := ask(p, actx, a)
			see(t, s.codes)
			abort() // the coordinator aborts A's session
			if ok, _ := answer(t, done); ok {
				t.Fatal("A approved with no answer")
			}
			word := late
			if late == "same code" {
				word = "1234"
			}
			typeLine(word) // the person's answer to A, too late
			see(t, s.ignored)
			bctx, stop := context.WithCancel(context.Background())
			done = ask(p, bctx, b)
			see(t, s.codes)
			select {
			case r := <-done:
				t.Fatalf("B answered by the line typed for A: %v", r)
			case <-time.After(200 * time.Millisecond):
			}
			stop()
			if ok, _ := answer(t, done); ok {
				t.Fatal("B approved by the line typed for A")
			}
		})
	}
}

// TestTerminalPrompterAnswerForAnEndedPrompt: a line read while prompt A
// was on screen but taken only after A ended (its deadline won the race)
// is not the answer to the next prompt.
func TestTerminalPrompterAnswerForAnEndedPrompt(t *testing.T) {
	b := party.SignRequest{KeyID: "k1", Digest: bytes.Repeat([]byte{0xbb}, 32), Requester: "wallet"}
	s := newScreen()
	p := &terminalPrompter{out: s, lines: make(chan answerLine, 1), code: func() (string, error) { return "1234", nil }}
	p.last = 1                                          // prompt 1 (A) has ended
	p.lines <- answerLine{text: "1234", prompt: p.last} // typed while A was on screen
	ctx, stop := context.WithCancel(context.Background())
	done := ask(p, ctx, b)
	see(t, s.codes)
	select {
	case r := <-done:
		t.Fatalf("B answered by the line typed for A: %v", r)
	case <-s.ignored:
	case <-time.After(time.Minute):
		t.Fatal("the line typed for A was neither taken nor ignored")
	}
	stop()
	if ok, _ := answer(t, done); ok {
		t.Fatal("B approved by the line typed for A")
	}
}
