package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// fakeClock is the bus's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var evT0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// unixArg is t as docker's CLI sends since/until.
func unixArg(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// newEventsEngine is an Engine as only the bus needs it, on a fake clock.
func newEventsEngine() (*Engine, *fakeClock) {
	c := &fakeClock{t: evT0}
	e := &Engine{}
	e.events.now = c.Now
	return e, c
}

// collect reads msgs until errs gives a value.
func collect(t *testing.T, msgs <-chan events.Message, errs <-chan error) ([]events.Message, error) {
	t.Helper()
	var got []events.Message
	for {
		select {
		case m := <-msgs:
			got = append(got, m)
		case err := <-errs:
			return got, err
		case <-time.After(20 * time.Second):
			t.Fatal("the events stream did not end")
		}
	}
}

// stream calls Events and collects what it gives until the end.
func stream(t *testing.T, e *Engine, ctx context.Context, o EventsOptions) ([]events.Message, error) {
	t.Helper()
	msgs, errs := e.Events(ctx, o)
	return collect(t, msgs, errs)
}

// next reads one message (the deadline only keeps a broken bus from
// hanging the test).
func next(t *testing.T, msgs <-chan events.Message, errs <-chan error) events.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case err := <-errs:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no event")
	}
	return events.Message{}
}

// key names an event in test expectations: "ID action".
func key(m events.Message) string { return m.Actor.ID + " " + string(m.Action) }

func keys(ms []events.Message) []string {
	var s []string
	for _, m := range ms {
		s = append(s, key(m))
	}
	return s
}

func TestEventsFilters(t *testing.T) {
	e, clock := newEventsEngine()
	web := map[string]string{"name": "web", "image": "nginx:1.25", "com.example.team": "blue", "tier": "front"}
	db := map[string]string{"name": "db", "image": "docker.io/library/postgres:16", "exitCode": "0"}
	for _, ev := range []struct {
		typ    events.Type
		action events.Action
		id     string
		attrs  map[string]string
	}{
		{events.ContainerEventType, events.ActionCreate, "aaa111", web},
		{events.ContainerEventType, events.ActionStart, "aaa111", web},
		{events.ContainerEventType, "exec_start: sh -c ls", "aaa111", web},
		{events.ContainerEventType, events.ActionDie, "bbb222", db},
		{events.ContainerEventType, events.ActionHealthStatusHealthy, "bbb222", db},
		{events.ImageEventType, events.ActionPull, "nginx:1.25", map[string]string{"name": "nginx:1.25"}},
		{events.ImageEventType, events.ActionTag, "sha256:abcd", map[string]string{"name": "myrepo:v1"}},
		{events.NetworkEventType, events.ActionConnect, "net1", map[string]string{"name": "bridge", "container": "aaa111"}},
	} {
		clock.Advance(time.Second)
		e.emit(ev.typ, ev.action, ev.id, ev.attrs)
	}
	clock.Advance(time.Minute)
	all := []string{
		"aaa111 create", "aaa111 start", "aaa111 exec_start: sh -c ls", "bbb222 die",
		"bbb222 health_status: healthy", "nginx:1.25 pull", "sha256:abcd tag", "net1 connect",
	}
	for _, tc := range []struct {
		name    string
		filters Filters
		want    []string
	}{
		{"none", nil, all},
		{"container by name", Filters{"container": {"web"}}, all[:3]},
		{"container by id prefix", Filters{"container": {"aaa"}}, all[:3]},
		{"containers", Filters{"container": {"web", "bbb222"}}, all[:5]},
		{"event", Filters{"event": {"start"}}, all[1:2]},
		{"events", Filters{"event": {"die", "start"}}, []string{all[1], all[3]}},
		{"event with detail", Filters{"event": {"exec_start"}}, all[2:3]},
		{"event with detail exact", Filters{"event": {"exec_start: sh -c ls"}}, all[2:3]},
		{"health_status", Filters{"event": {"health_status"}}, all[4:5]},
		{"image without tag", Filters{"image": {"nginx"}}, []string{all[0], all[1], all[2], all[5]}},
		{"image with tag", Filters{"image": {"nginx:1.25"}}, []string{all[0], all[1], all[2], all[5]}},
		{"image normalized", Filters{"image": {"postgres"}}, all[3:5]},
		{"image by name attr", Filters{"image": {"myrepo"}}, all[6:7]},
		{"label key", Filters{"label": {"com.example.team"}}, all[:3]},
		{"label key=value", Filters{"label": {"com.example.team=blue"}}, all[:3]},
		{"label other value", Filters{"label": {"com.example.team=red"}}, nil},
		{"labels all hold", Filters{"label": {"com.example.team=blue", "tier=front"}}, all[:3]},
		{"labels one fails", Filters{"label": {"com.example.team=blue", "tier=back"}}, nil},
		{"label on exitCode", Filters{"label": {"exitCode=0"}}, all[3:5]},
		{"type", Filters{"type": {"image"}}, all[5:7]},
		{"types", Filters{"type": {"image", "network"}}, all[5:8]},
		{"network", Filters{"network": {"bridge"}}, all[7:8]},
		{"scope local", Filters{"scope": {"local"}}, all},
		{"scope swarm", Filters{"scope": {"swarm"}}, nil},
		{"type and event", Filters{"type": {"container"}, "event": {"die"}}, all[3:4]},
		{"container and type image", Filters{"container": {"web"}, "type": {"image"}}, nil},
		{"empty values", Filters{"type": {}}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stream(t, e, context.Background(), EventsOptions{
				Since: "0", Until: unixArg(clock.Now()), Filters: tc.filters,
			})
			if err != io.EOF {
				t.Fatalf("end = %v, want io.EOF", err)
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Errorf("events = %q\nwant %q", keys(got), tc.want)
			}
		})
	}

	t.Run("unknown filter", func(t *testing.T) {
		_, errs := e.Events(context.Background(), EventsOptions{Filters: Filters{"type": {"image"}, "colour": {"red"}}})
		err := <-errs
		if KindOf(err) != KindInvalid || err.Error() != "invalid filter 'colour'" {
			t.Errorf("err = %v (kind %v), want invalid filter 'colour'", err, KindOf(err))
		}
	})
}

func TestEventsMessage(t *testing.T) {
	e, clock := newEventsEngine()
	attrs := map[string]string{"name": "web", "image": "busybox"}
	e.emit(events.ContainerEventType, events.ActionStart, "abc", attrs)
	attrs["name"] = "changed by the caller"
	clock.Advance(time.Second)
	got, err := stream(t, e, context.Background(), EventsOptions{Since: "0", Until: unixArg(clock.Now())})
	if err != io.EOF || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	m := got[0]
	want := events.Message{
		Type: events.ContainerEventType, Action: events.ActionStart, Scope: "local",
		Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "busybox"}},
		Time:  evT0.Unix(), TimeNano: evT0.UnixNano(),
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("message = %+v\nwant %+v", m, want)
	}
	// What a caller does to its copy does not reach the next caller.
	m.Actor.Attributes["name"] = "x"
	got, _ = stream(t, e, context.Background(), EventsOptions{Since: "0", Until: unixArg(clock.Now())})
	if got[0].Actor.Attributes["name"] != "web" {
		t.Errorf("kept event changed: %v", got[0].Actor.Attributes)
	}
}

func TestEventsSince(t *testing.T) {
	e, clock := newEventsEngine()
	for i := range 3 {
		clock.Advance(time.Second)
		e.emit(events.ContainerEventType, events.ActionStart, fmt.Sprint("c", i), nil)
	}
	at2 := evT0.Add(2 * time.Second) // c1's time
	clock.Advance(time.Second)

	t.Run("replay then live", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		msgs, errs := e.Events(ctx, EventsOptions{Since: unixArg(at2)})
		if got := []string{key(next(t, msgs, errs)), key(next(t, msgs, errs))}; !slices.Equal(got, []string{"c1 start", "c2 start"}) {
			t.Fatalf("replayed %q", got)
		}
		e.emit(events.ContainerEventType, events.ActionDie, "c3", nil)
		if got := key(next(t, msgs, errs)); got != "c3 die" {
			t.Fatalf("live = %q", got)
		}
		cancel()
		if _, err := collect(t, msgs, errs); !errors.Is(err, context.Canceled) {
			t.Errorf("end = %v, want context.Canceled", err)
		}
	})
	t.Run("since as a duration", func(t *testing.T) {
		// The clock is at t0+4s now: 2s ago is c1's time.
		got, err := stream(t, e, context.Background(), EventsOptions{Since: "2s", Until: unixArg(clock.Now().Add(-time.Second))})
		if err != io.EOF || !slices.Equal(keys(got), []string{"c1 start", "c2 start"}) {
			t.Errorf("got %q, %v", keys(got), err)
		}
	})
	t.Run("no since: live only", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		msgs, errs := e.Events(ctx, EventsOptions{})
		e.emit(events.ImageEventType, events.ActionPull, "busybox", nil)
		if got := key(next(t, msgs, errs)); got != "busybox pull" {
			t.Errorf("first event = %q, want the live one", got)
		}
	})
	t.Run("since ahead", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		msgs, errs := e.Events(ctx, EventsOptions{Since: unixArg(clock.Now().Add(time.Hour))})
		e.emit(events.ImageEventType, events.ActionPull, "early", nil)
		clock.Advance(2 * time.Hour)
		e.emit(events.ImageEventType, events.ActionPull, "late", nil)
		if got := key(next(t, msgs, errs)); got != "late pull" {
			t.Errorf("first event = %q, want the one after since", got)
		}
	})
}

func TestEventsUntil(t *testing.T) {
	t.Run("past: replay and end", func(t *testing.T) {
		e, clock := newEventsEngine()
		for i := range 4 {
			clock.Advance(time.Second)
			e.emit(events.ContainerEventType, events.ActionStart, fmt.Sprint("c", i), nil)
		}
		got, err := stream(t, e, context.Background(), EventsOptions{Until: unixArg(evT0.Add(2 * time.Second))})
		if err != io.EOF || !slices.Equal(keys(got), []string{"c0 start", "c1 start"}) {
			t.Errorf("got %q, %v; want c0, c1 and io.EOF", keys(got), err)
		}
	})
	t.Run("ahead: live until then", func(t *testing.T) {
		e := &Engine{} // the real clock: the stream ends when until passes
		e.emit(events.ContainerEventType, events.ActionCreate, "before", nil)
		msgs, errs := e.Events(context.Background(), EventsOptions{Until: unixArg(time.Now().Add(300 * time.Millisecond))})
		e.emit(events.ContainerEventType, events.ActionStart, "during", nil)
		got, err := collect(t, msgs, errs)
		if err != io.EOF || !slices.Equal(keys(got), []string{"before create", "during start"}) {
			t.Errorf("got %q, %v; want the kept and the live event, then io.EOF", keys(got), err)
		}
	})
}

func TestEventsBadOptions(t *testing.T) {
	e, _ := newEventsEngine()
	for _, tc := range []struct {
		name string
		o    EventsOptions
		want string
	}{
		{"since", EventsOptions{Since: "soon"}, `failed to parse value as time or duration: "soon"`},
		{"until", EventsOptions{Until: "2024-02-30"}, `parsing time "2024-02-30": day out of range`},
		{"since after until", EventsOptions{Since: "1700000100", Until: "1700000000"},
			"`since` time (1700000100) cannot be after `until` time (1700000000)"},
		{"filter", EventsOptions{Filters: Filters{"before": {"x"}}}, "invalid filter 'before'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := e.Events(context.Background(), tc.o)
			err := <-errs
			if KindOf(err) != KindInvalid || err.Error() != tc.want {
				t.Errorf("err = %v (kind %v), want invalid %q", err, KindOf(err), tc.want)
			}
		})
	}
	if n := len(e.events.subs); n != 0 {
		t.Errorf("%d subscriptions left behind", n)
	}
}

func TestEventsSlowSubscriber(t *testing.T) {
	e, _ := newEventsEngine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slowMsgs, slowErrs := e.Events(ctx, EventsOptions{})

	// Nobody reads slowMsgs: emit must go on all the same.
	const n = eventsQueued + 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			e.emit(events.ContainerEventType, events.ActionStart, fmt.Sprint(i), nil)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("emit blocked on a subscriber that does not read")
	}

	// The slow one gets what was queued for it, in order, then the news
	// that it was dropped.
	got, err := collect(t, slowMsgs, slowErrs)
	if KindOf(err) != KindUnavailable || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("end = %v, want the subscriber dropped", err)
	}
	if len(got) < eventsQueued || len(got) >= n {
		t.Fatalf("slow subscriber got %d events, want between %d and %d", len(got), eventsQueued, n)
	}
	for i, m := range got {
		if m.Actor.ID != fmt.Sprint(i) {
			t.Fatalf("event %d is %q", i, m.Actor.ID)
		}
	}
	e.events.mu.Lock()
	subs := len(e.events.subs)
	e.events.mu.Unlock()
	if subs != 0 {
		t.Errorf("%d subscriptions left after the drop", subs)
	}

	// The bus goes on for others.
	msgs, errs := e.Events(ctx, EventsOptions{})
	e.emit(events.ContainerEventType, events.ActionStop, "after", nil)
	if got := key(next(t, msgs, errs)); got != "after stop" {
		t.Errorf("next subscriber got %q", got)
	}
}

func TestEventsConcurrent(t *testing.T) {
	e := &Engine{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, errs := e.Events(ctx, EventsOptions{Filters: Filters{"type": {"container"}}})
	const emitters, each = 8, 100 // fewer than eventsQueued in all: nobody is dropped
	var wg sync.WaitGroup
	for g := range emitters {
		wg.Go(func() {
			for i := range each {
				e.emit(events.ContainerEventType, events.ActionStart, fmt.Sprintf("g%d-%d", g, i), map[string]string{"n": fmt.Sprint(i)})
				e.emit(events.ImageEventType, events.ActionPull, "img", nil)
			}
		})
	}
	// Other subscribers come and go meanwhile.
	for range 4 {
		wg.Go(func() {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			m, er := e.Events(c, EventsOptions{Since: "0"})
			select {
			case <-m:
			case err := <-er:
				t.Errorf("subscriber ended: %v", err)
			case <-time.After(20 * time.Second):
				t.Error("subscriber got no event")
			}
		})
	}
	last := map[string]int{}
	for range emitters * each {
		m := next(t, msgs, errs)
		var g, i int
		if _, err := fmt.Sscanf(m.Actor.ID, "g%d-%d", &g, &i); err != nil {
			t.Fatalf("unexpected event %v", m)
		}
		if prev, ok := last[fmt.Sprint(g)]; ok && i != prev+1 {
			t.Fatalf("emitter %d: event %d after %d", g, i, prev)
		}
		last[fmt.Sprint(g)] = i
	}
	wg.Wait()

	// The ring keeps the newest eventsKept.
	got, err := stream(t, e, ctx, EventsOptions{Since: "0", Until: unixArg(time.Now())})
	if err != io.EOF || len(got) != eventsKept {
		t.Fatalf("replay gave %d events (%v), want %d", len(got), err, eventsKept)
	}
	for i := 1; i < len(got); i++ {
		if got[i].TimeNano < got[i-1].TimeNano {
			t.Fatalf("replay out of order at %d", i)
		}
	}
}
