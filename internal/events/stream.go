package events

import (
	"errors"
	"fmt"
	"sync"
)

// Stream hands every published event to every reader, in order, and never
// waits for one: each reader has a bounded ring of its own, and a reader
// that falls a whole ring behind is cut off (ErrFellBehind) rather than
// slowing the publisher or growing without bound.
//
// The daemon's loop publishes and subscribes, so that the current state a
// new reader gets first is exactly the state after the last event published.
type Stream struct {
	mu      sync.Mutex
	readers map[*Reader]struct{}
	size    int
	last    uint64
}

// DefaultReaderSize is how many events a reader may fall behind.
const DefaultReaderSize = 4096

// NewStream makes a stream whose readers may fall size events behind
// (DefaultReaderSize if size <= 0).
func NewStream(size int) *Stream {
	if size <= 0 {
		size = DefaultReaderSize
	}
	return &Stream{readers: map[*Reader]struct{}{}, size: size}
}

// ErrFellBehind ends a reader that did not keep up; it may subscribe again
// (and gets the current state).
var ErrFellBehind = errors.New("reader fell behind")

// ErrClosed ends a reader that was closed.
var ErrClosed = errors.New("reader closed")

// Reader is one subscriber.
type Reader struct {
	s      *Stream
	mu     sync.Mutex
	ring   []Event
	head   int // index of the oldest unread event
	n      int // unread events
	behind bool
	closed bool          // by its reader: done at once
	ended  bool          // by its stream: done after what it holds
	wake   chan struct{} // signalled when something changes
}

// Publish hands e to every reader. It never blocks.
func (s *Stream) Publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = e.Seq
	for r := range s.readers {
		if !r.push(e) {
			delete(s.readers, r)
		}
	}
}

// Last is the sequence number of the last event published.
func (s *Stream) Last() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Subscribe adds a reader whose first events are current (the state now,
// marked Replay); it then gets every event published after.
func (s *Stream) Subscribe(current []Event) *Reader {
	r := &Reader{s: s, ring: make([]Event, len(current)+s.size), wake: make(chan struct{}, 1)}
	for _, e := range current {
		r.push(e)
	}
	s.mu.Lock()
	s.readers[r] = struct{}{}
	s.mu.Unlock()
	return r
}

// Readers is how many readers follow the stream.
func (s *Stream) Readers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

// push appends e, or cuts the reader off when its ring is full; false
// when the reader is done.
func (r *Reader) push(e Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.ended || r.behind {
		return false
	}
	if r.n == len(r.ring) {
		r.behind = true
		r.signal()
		return false
	}
	r.ring[(r.head+r.n)%len(r.ring)] = e
	r.n++
	r.signal()
	return true
}

func (r *Reader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one until done is closed. After
// the last event a cut-off reader got, it returns ErrFellBehind, and after
// the last event of a closed stream ErrClosed; a reader closed itself
// returns ErrClosed at once.
func (r *Reader) Next(done <-chan struct{}) (Event, error) {
	for {
		r.mu.Lock()
		switch {
		case r.closed:
			r.mu.Unlock()
			return Event{}, ErrClosed
		case r.n > 0:
			e := r.ring[r.head]
			r.ring[r.head] = Event{}
			r.head = (r.head + 1) % len(r.ring)
			r.n--
			r.mu.Unlock()
			return e, nil
		case r.behind:
			r.mu.Unlock()
			return Event{}, fmt.Errorf("%w: more than %d events unread", ErrFellBehind, len(r.ring))
		case r.ended:
			r.mu.Unlock()
			return Event{}, ErrClosed
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-done:
			return Event{}, ErrClosed
		}
	}
}

// Close ends the reader and takes it off its stream.
func (r *Reader) Close() {
	r.mu.Lock()
	r.closed = true
	r.signal()
	r.mu.Unlock()
	r.s.mu.Lock()
	delete(r.s.readers, r)
	r.s.mu.Unlock()
}

// Close ends every reader (ErrClosed, once it has read what it holds): the
// daemon is stopping.
func (s *Stream) Close() {
	s.mu.Lock()
	readers := s.readers
	s.readers = map[*Reader]struct{}{}
	s.mu.Unlock()
	for r := range readers {
		r.mu.Lock()
		r.ended = true
		r.signal()
		r.mu.Unlock()
	}
}
