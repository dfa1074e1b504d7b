package engine

import (
	"context"
	"os"
	"sync"
	"time"
)

// coreState is the container core's state: the records file, and what
// this process knows of the containers beyond their records (watchers,
// waiters, pending attachments, restart timers).
type coreState struct {
	store *store
	// daemonLock is Root/daemon.lock, flocked by a daemon.
	daemonLock *os.File
	// ctx lives as long as the engine: watchers and restart timers end
	// with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex
	live map[string]*ctrLive
}

// ctrLive is this process's view of one container between API calls.
type ctrLive struct {
	// op serialises the operations that change what runs (start,
	// the record of an exit, remove) within this process; a daemonless
	// engine also flocks the container's lock file.
	op chan struct{}
	// watchedRun is the StartedAt of the run a watcher goroutine follows
	// (zero when none).
	watchedRun time.Time
	// exitWaiters get the next exit; removeWaiters the removal.
	exitWaiters   map[*waiter]struct{}
	removeWaiters map[*waiter]struct{}
	// attaches wait for the container to start (see attach.go).
	attaches map[*pendingAttach]struct{}
	// cancelRestart cancels a pending restart; backoff is the delay used
	// for the last one.
	cancelRestart context.CancelFunc
	backoff       time.Duration
	execIDs       []string
	// removing: this process is removing the container (its record may
	// be gone before the waiters are told).
	removing bool
}

// waiter is one ContainerWait (or an internal wait for an exit).
type waiter struct {
	ch chan exitNote // buffered, one value
}

// exitNote is an exit as waiters get it.
type exitNote struct {
	Code    int
	Err     string
	Removed bool
}

// liveOf returns (making) the live state of id; callers hold core.mu.
func (e *Engine) liveOf(id string) *ctrLive {
	l := e.core.live[id]
	if l == nil {
		l = &ctrLive{
			op:            make(chan struct{}, 1),
			exitWaiters:   map[*waiter]struct{}{},
			removeWaiters: map[*waiter]struct{}{},
			attaches:      map[*pendingAttach]struct{}{},
		}
		e.core.live[id] = l
	}
	return l
}

// lockCtr takes the operation lock of container r: this process's, and in
// daemonless mode the lock file in its directory that other processes
// take too. The caller must load the record again once it holds it
// (lockLoad does both).
func (e *Engine) lockCtr(ctx context.Context, r *ctrRecord) (func(), error) {
	e.core.mu.Lock()
	op := e.liveOf(r.ID).op
	e.core.mu.Unlock()
	select {
	case op <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-op }
	if e.opts.Daemon {
		return release, nil
	}
	unlock, err := lockFile(ctx, r.Dir+"/.lock")
	if err != nil {
		release()
		if os.IsNotExist(err) {
			return nil, NotFound("No such container: %s", r.ID)
		}
		return nil, err
	}
	return func() { unlock(); release() }, nil
}

// lockLoad is lockCtr followed by the load the caller owes: it returns
// container r's record as it is under the lock.
func (e *Engine) lockLoad(ctx context.Context, r *ctrRecord) (*ctrRecord, func(), error) {
	unlock, err := e.lockCtr(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	fresh, err := e.load(r.ID)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return fresh, unlock, nil
}

// tryLockCtr is lockCtr without waiting: ok is false when this or
// another process holds the container's lock.
func (e *Engine) tryLockCtr(r *ctrRecord) (func(), bool) {
	e.core.mu.Lock()
	op := e.liveOf(r.ID).op
	e.core.mu.Unlock()
	select {
	case op <- struct{}{}:
	default:
		return nil, false
	}
	release := func() { <-op }
	if e.opts.Daemon {
		return release, true
	}
	f, ok, err := tryLockFile(r.Dir + "/.lock")
	if err != nil || !ok {
		release()
		return nil, false
	}
	return func() { f.Close(); release() }, true
}

// addWaiter registers a waiter for the next exit (or, with removed, for
// the removal) of id.
func (e *Engine) addWaiter(id string, removed bool) *waiter {
	w := &waiter{ch: make(chan exitNote, 1)}
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.liveOf(id)
	if removed {
		l.removeWaiters[w] = struct{}{}
	} else {
		l.exitWaiters[w] = struct{}{}
	}
	return w
}

// dropWaiter unregisters w (its wait was cancelled).
func (e *Engine) dropWaiter(id string, w *waiter) {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	if l := e.core.live[id]; l != nil {
		delete(l.exitWaiters, w)
		delete(l.removeWaiters, w)
	}
}

// notifyExit hands an exit to the exit waiters of id.
func (e *Engine) notifyExit(id string, n exitNote) {
	e.core.mu.Lock()
	defer e.core.mu.Unlock()
	l := e.core.live[id]
	if l == nil {
		return
	}
	for w := range l.exitWaiters {
		w.ch <- n
		delete(l.exitWaiters, w)
	}
}

// notifyRemoved tells every waiter of id that it is gone, closes its
// pending attachments and forgets it.
func (e *Engine) notifyRemoved(id string, n exitNote) {
	e.core.mu.Lock()
	l := e.core.live[id]
	delete(e.core.live, id)
	e.core.mu.Unlock()
	if l == nil {
		return
	}
	n.Removed = true
	for w := range l.exitWaiters {
		w.ch <- n
	}
	for w := range l.removeWaiters {
		w.ch <- n
	}
	for a := range l.attaches {
		a.fail(errAttachEnded)
	}
	if l.cancelRestart != nil {
		l.cancelRestart()
	}
}
