package runtime

import (
	"fmt"
	"os"
	"time"
)

// Phase tracing for performance work: with BERTH_TRACE=1 in the
// environment of the runtime, each phase of create, start, run and delete
// (and of init, which inherits the setting through its config) prints
// "@<who> <phase> <unix µs>" on stderr. Off, it costs one bool test.
var traceOn = os.Getenv("BERTH_TRACE") == "1"

func tracePhase(who, phase string) {
	if traceOn {
		fmt.Fprintf(os.Stderr, "@%s %s %d\n", who, phase, time.Now().UnixMicro())
	}
}
