package engine

import (
	"time"

	"github.com/moby/moby/api/types/container"
)

// Restart backoff, as docker's restart manager: the first restart after
// 100 ms, each next one twice as late, never later than a minute; a
// container that ran for 10 s or more starts the series again.
const (
	restartFirstDelay = 100 * time.Millisecond
	restartMaxDelay   = time.Minute
	restartResetAfter = 10 * time.Second
)

// exitFacts are what a restart decision looks at.
type exitFacts struct {
	Policy   container.RestartPolicy
	ExitCode int
	// ManuallyStopped: the user stopped or killed it (docker stop/kill).
	ManuallyStopped bool
	// RestartCount: restarts the policy made since the user's last start.
	RestartCount int
	// AtEngineStart: the decision is made by a daemon starting up, for a
	// container found stopped.
	AtEngineStart bool
}

// shouldRestart applies docker's rules. While the engine runs, a
// container the user stopped is never restarted. A daemon starting up
// brings back every always container (even one the user stopped: that is
// the difference with unless-stopped) and the unless-stopped and
// on-failure ones the user did not stop. on-failure restarts only after a
// non-zero exit, at most MaximumRetryCount times (0: no limit).
func shouldRestart(f exitFacts) bool {
	if f.ManuallyStopped && !f.AtEngineStart {
		return false
	}
	switch f.Policy.Name {
	case container.RestartPolicyAlways:
		return true
	case container.RestartPolicyUnlessStopped:
		return !f.ManuallyStopped
	case container.RestartPolicyOnFailure:
		max := f.Policy.MaximumRetryCount
		return !f.ManuallyStopped && f.ExitCode != 0 && (max == 0 || f.RestartCount < max)
	}
	return false
}

// restartDelay is the wait before the next restart, given the previous
// wait (0 for none yet) and how long the container ran this time.
func restartDelay(prev, ran time.Duration) time.Duration {
	if ran >= restartResetAfter || prev <= 0 {
		return restartFirstDelay
	}
	return min(prev*2, restartMaxDelay)
}
