package engine

import (
	"context"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/engine/logfile"
)

const (
	// eventsKept is how many recent events the bus keeps for since.
	eventsKept = 1024
	// eventsQueued is how many events a subscriber may fall behind
	// before it is dropped.
	eventsQueued = 1024
)

// eventBus fans events out to subscribers and keeps the last eventsKept
// for since. Its zero value is ready to use.
type eventBus struct {
	mu   sync.Mutex
	ring []events.Message // up to eventsKept, the oldest at ring[head]
	head int
	subs map[*eventSub]struct{}
	now  func() time.Time // the clock (nil: time.Now); tests set it
}

// eventSub is one Events call receiving live events.
type eventSub struct {
	filter eventFilter
	since  int64 // TimeNano of since, 0 when unset
	queue  chan events.Message
	// dropped is closed when the subscriber fell behind and emit let it go.
	dropped chan struct{}
}

func (b *eventBus) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// emit publishes an event of type typ and action about actor id: it is
// stamped, kept for since, and handed to each subscriber that wants it.
// It never waits for a subscriber: one whose queue is full is dropped.
func (e *Engine) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	e.events.publish(typ, action, id, attrs)
}

func (b *eventBus) publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	a := make(map[string]string, len(attrs))
	maps.Copy(a, attrs)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	m := events.Message{
		Type:     typ,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: a},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}
	if len(b.ring) < eventsKept {
		b.ring = append(b.ring, m)
	} else {
		b.ring[b.head] = m
		b.head = (b.head + 1) % eventsKept
	}
	for s := range b.subs {
		if m.TimeNano < s.since || !s.filter.match(m) {
			continue
		}
		select {
		case s.queue <- m:
		default:
			delete(b.subs, s)
			close(s.dropped)
		}
	}
}

// subscribe returns the kept events from since to until (zero: unset;
// none when both are) that f matches, oldest first, and when live a
// subscription to what comes next, taken at the same instant so nothing
// falls between.
func (b *eventBus) subscribe(since, until time.Time, f eventFilter, live bool) ([]events.Message, *eventSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []events.Message
	if !since.IsZero() || !until.IsZero() {
		from, to := since.UnixNano(), until.UnixNano()
		for i := range b.ring {
			m := b.ring[(b.head+i)%len(b.ring)]
			if !since.IsZero() && m.TimeNano < from || !until.IsZero() && m.TimeNano > to || !f.match(m) {
				continue
			}
			past = append(past, m)
		}
	}
	if !live {
		return past, nil
	}
	s := &eventSub{filter: f, queue: make(chan events.Message, eventsQueued), dropped: make(chan struct{})}
	if !since.IsZero() {
		s.since = since.UnixNano()
	}
	if b.subs == nil {
		b.subs = make(map[*eventSub]struct{})
	}
	b.subs[s] = struct{}{}
	return past, s
}

func (b *eventBus) unsubscribe(s *eventSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

// Events streams the events that o.Filters match, as docker does: with
// Since, the kept events from then first; with Until in the past, only
// those (then the end); with Until ahead, live events until then; else
// live events until ctx ends. The error channel then gets one value:
// io.EOF when Until ended the stream (what a client reading docker's
// stream sees), ctx.Err() when ctx did, an *Error when the options are
// bad or the caller fell more than 1024 events behind. The message
// channel is not closed. Messages are copies the caller may keep.
func (e *Engine) Events(ctx context.Context, o EventsOptions) (<-chan events.Message, <-chan error) {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	b := &e.events
	f, err := newEventFilter(o.Filters)
	if err != nil {
		errs <- err
		return msgs, errs
	}
	now := b.clock()
	since, err := logfile.ParseTime(o.Since, now)
	if err != nil {
		errs <- Errorf(KindInvalid, "%w", err)
		return msgs, errs
	}
	until, err := logfile.ParseTime(o.Until, now)
	if err != nil {
		errs <- Errorf(KindInvalid, "%w", err)
		return msgs, errs
	}
	if !until.IsZero() && until.Before(since) {
		errs <- Invalid("`since` time (%s) cannot be after `until` time (%s)", o.Since, o.Until)
		return msgs, errs
	}
	live := until.IsZero() || !until.Before(now)
	past, sub := b.subscribe(since, until, f, live)
	var left time.Duration // how long a live stream lasts; 0: until ctx ends
	if sub != nil && !until.IsZero() {
		left = max(until.Sub(now), time.Nanosecond)
	}
	go b.serve(ctx, past, sub, left, msgs, errs)
	return msgs, errs
}

// serve delivers past, then sub's live events for left (0: no limit), to
// msgs, and puts the reason of the end on errs.
func (b *eventBus) serve(ctx context.Context, past []events.Message, sub *eventSub, left time.Duration, msgs chan<- events.Message, errs chan<- error) {
	errs <- b.deliver(ctx, past, sub, left, msgs)
}

func (b *eventBus) deliver(ctx context.Context, past []events.Message, sub *eventSub, left time.Duration, msgs chan<- events.Message) error {
	if sub != nil {
		defer b.unsubscribe(sub)
	}
	send := func(m events.Message) error {
		m.Actor.Attributes = maps.Clone(m.Actor.Attributes)
		select {
		case msgs <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, m := range past {
		if err := send(m); err != nil {
			return err
		}
	}
	if sub == nil {
		return io.EOF
	}
	var timeout <-chan time.Time
	if left > 0 {
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case m := <-sub.queue:
			if err := send(m); err != nil {
				return err
			}
		case <-sub.dropped:
			// Hand over what was queued, then say why it ends.
			for len(sub.queue) > 0 {
				if err := send(<-sub.queue); err != nil {
					return err
				}
			}
			return Errorf(KindUnavailable, "events: the subscriber fell %d events behind and was dropped", eventsQueued)
		case <-timeout:
			return io.EOF
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
