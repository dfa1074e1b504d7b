package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/runtime"
	"github.com/berth-project/berth/volume"
)

// DefaultExecRoot is where the monitors' sockets live unless
// Options.ExecRoot says otherwise.
const DefaultExecRoot = "/run/berth"

// Open opens the engine on o.Root: the image service, the runtime, the
// container records (Root/engine.db), and then restores what the records
// say against what runs (see restore.go). A daemon (o.Daemon) takes
// Root/daemon.lock: one daemon per root.
func Open(ctx context.Context, o Options) (_ *Engine, err error) {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	if o.RuntimeRoot == "" {
		o.RuntimeRoot = runtime.DefaultRoot
	}
	if o.ExecRoot == "" {
		o.ExecRoot = DefaultExecRoot
	}
	if o.Self == "" {
		if o.Self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("open engine: find the berth binary: %w", err)
		}
	}
	// The monitors' sockets go in ExecRoot/<64-hex ID>/: unix socket
	// paths have 107 bytes at most.
	if n := len(filepath.Join(o.ExecRoot, strings.Repeat("0", 64), "console.sock")); n > 107 {
		return nil, fmt.Errorf("open engine: exec root %s is too long for the monitors' sockets (%d bytes of 107)", o.ExecRoot, n)
	}
	if _, err := resolveLogConfig(o.LogConfig, container.LogConfig{}); err != nil {
		return nil, fmt.Errorf("open engine: default log config: %w", err)
	}
	if n := o.NetName; n != "" && (len(n) > 15 || !validNetworkName.MatchString(n) || strings.ContainsAny(n, ".")) {
		return nil, fmt.Errorf("open engine: network name %q: at most 15 letters, digits, - and _", n)
	}
	for _, dir := range []string{o.Root, filepath.Join(o.Root, "containers"), o.ExecRoot} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("open engine: %w", err)
		}
	}
	e := &Engine{opts: o}
	if e.remap, err = parseUsernsRemap(o.UsernsRemap); err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	e.core.live = map[string]*ctrLive{}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if o.Daemon {
		f, ok, err := tryLockFile(filepath.Join(o.Root, "daemon.lock"))
		if err != nil {
			return nil, fmt.Errorf("open engine: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("another berth daemon is running on %s", o.Root)
		}
		e.core.daemonLock = f
		closers = append(closers, func() { f.Close() })
	}
	if e.Images, err = OpenImages(o.Root, o.Images); err != nil {
		return nil, err
	}
	closers = append(closers, func() { e.Images.Close() })
	if e.Runtime, err = runtime.New(o.RuntimeRoot); err != nil {
		return nil, err
	}
	if e.Volumes, err = volume.Open(filepath.Join(o.Root, "volumes")); err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	if e.core.store, err = openStore(filepath.Join(o.Root, "engine.db"), o.Daemon); err != nil {
		return nil, err
	}
	closers = append(closers, func() { e.core.store.close() })
	e.core.ctx, e.core.cancel = context.WithCancel(context.Background())
	closers = append(closers, func() { e.core.cancel(); e.core.wg.Wait() })
	// The engine's ID is made at the first start, so that info never
	// needs to write (it must answer on a full disk).
	if _, err := e.engineID(); err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	if err := e.ensureBuiltinNetworks(ctx); err != nil {
		return nil, fmt.Errorf("open engine: predefined networks: %w", err)
	}
	if err := e.restore(ctx); err != nil {
		return nil, fmt.Errorf("open engine: restore containers: %w", err)
	}
	if err := e.restoreNetworks(ctx); err != nil {
		return nil, fmt.Errorf("open engine: restore networks: %w", err)
	}
	if o.Daemon {
		e.cleanBuildLeftovers(ctx)
	}
	if o.Builder != nil {
		e.builder = o.Builder(e)
	}
	return e, nil
}

// Close releases the engine without touching the containers: they keep
// running under their monitors, and the next Open (of a daemon, or any
// engine's next call) finds them again.
func (e *Engine) Close() error {
	e.core.closeOnce.Do(func() { e.core.closeErr = e.close() })
	return e.core.closeErr
}

func (e *Engine) close() error {
	e.core.cancel()
	e.core.mu.Lock()
	for _, l := range e.core.live {
		for a := range l.attaches {
			a.fail(errEngineClosed)
		}
	}
	e.core.mu.Unlock()
	e.core.wg.Wait()
	e.closeSealedSelf()
	errs := []error{e.core.store.close(), e.Images.Close()}
	if e.core.daemonLock != nil {
		errs = append(errs, e.core.daemonLock.Close())
	}
	return errors.Join(errs...)
}

// errEngineClosed ends what waits on an engine that closes.
var errEngineClosed = errors.New("the engine is shutting down")
