package engine

import (
	"os"
	"sync"

	"github.com/berth-project/berth/runtime"
)

// sealedSelf is the engine's one sealed copy of the berth binary
// (runtime.SealedCopy of Options.Self), made at the first start of a
// container with a health check and handed to every such monitor: each
// probe is an exec into the container, whose `berth init` must start from
// a binary nothing can write through, and copying the binary for each one
// was 10-15 ms of every probe. The copy is read-only forever (sealed), so
// sharing it is as safe as a fresh one; it costs the binary's size in
// memory while the engine or a monitor holds it.
type sealedSelf struct {
	once sync.Once
	f    *os.File // nil: the copy failed; monitors make their own
}

func (e *Engine) sealedSelf() *os.File {
	e.sealed.once.Do(func() {
		if f, err := runtime.SealedCopy(e.opts.Self); err == nil {
			e.sealed.f = f
		}
	})
	return e.sealed.f
}

// closeSealedSelf lets the engine's copy go (monitors keep theirs): none
// is made after this.
func (e *Engine) closeSealedSelf() {
	e.sealed.once.Do(func() {})
	if e.sealed.f != nil {
		e.sealed.f.Close()
	}
}
