// Package linkio runs the two pumps of a device link's gRPC stream: Receive
// turns the stream's blocking Recv into channels, so that one select can wait
// for a message, the stream's end and other events; Send drains an outgoing
// queue into the stream. The coordinator's side of a device link and the
// device's side both use them.
package linkio

import "context"

// Receive calls recv in a goroutine until it fails or ctx ends. Each message
// is handed over on in, unbuffered (the caller's pace is the stream's); the
// error that ended the stream is sent once on errc (buffered), after which
// the goroutine returns. Once ctx ends, the goroutine returns as soon as
// recv does, which for a gRPC stream is when ctx, the stream's own
// context, is done.
func Receive[T any](ctx context.Context, recv func() (T, error)) (in <-chan T, errc <-chan error) {
	msgs := make(chan T)
	errs := make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if err != nil {
				errs <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errs
}

// Send sends each message of out with send until send fails, ctx ends or
// stop closes (a nil stop never does). The error that ended it is sent once
// on the returned channel (buffered).
func Send[T any](ctx context.Context, out <-chan T, send func(T) error, stop <-chan struct{}) <-chan error {
	errs := make(chan error, 1)
	go func() {
		for {
			select {
			case m := <-out:
				if err := send(m); err != nil {
					errs <- err
					return
				}
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return errs
}
