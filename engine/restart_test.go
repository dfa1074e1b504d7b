package engine

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestShouldRestart(t *testing.T) {
	pol := func(name container.RestartPolicyMode, max int) container.RestartPolicy {
		return container.RestartPolicy{Name: name, MaximumRetryCount: max}
	}
	for _, tc := range []struct {
		name string
		f    exitFacts
		want bool
	}{
		{"no policy", exitFacts{Policy: pol("no", 0), ExitCode: 1}, false},
		{"empty policy", exitFacts{ExitCode: 1}, false},
		{"always after success", exitFacts{Policy: pol("always", 0)}, true},
		{"always after failure", exitFacts{Policy: pol("always", 0), ExitCode: 137}, true},
		{"always stopped by the user", exitFacts{Policy: pol("always", 0), ManuallyStopped: true}, false},
		{"always stopped by the user, daemon starts", exitFacts{Policy: pol("always", 0), ManuallyStopped: true, AtEngineStart: true}, true},
		{"unless-stopped", exitFacts{Policy: pol("unless-stopped", 0), ExitCode: 0}, true},
		{"unless-stopped stopped by the user", exitFacts{Policy: pol("unless-stopped", 0), ManuallyStopped: true}, false},
		{"unless-stopped stopped by the user, daemon starts", exitFacts{Policy: pol("unless-stopped", 0), ManuallyStopped: true, AtEngineStart: true}, false},
		{"unless-stopped died while the daemon was down", exitFacts{Policy: pol("unless-stopped", 0), ExitCode: 137, AtEngineStart: true}, true},
		{"on-failure after success", exitFacts{Policy: pol("on-failure", 0)}, false},
		{"on-failure after failure, no limit", exitFacts{Policy: pol("on-failure", 0), ExitCode: 1, RestartCount: 100}, true},
		{"on-failure:2 first", exitFacts{Policy: pol("on-failure", 2), ExitCode: 1}, true},
		{"on-failure:2 second", exitFacts{Policy: pol("on-failure", 2), ExitCode: 1, RestartCount: 1}, true},
		{"on-failure:2 exhausted", exitFacts{Policy: pol("on-failure", 2), ExitCode: 1, RestartCount: 2}, false},
		{"on-failure stopped by the user", exitFacts{Policy: pol("on-failure", 0), ExitCode: 143, ManuallyStopped: true}, false},
		{"on-failure stopped by the user, daemon starts", exitFacts{Policy: pol("on-failure", 0), ExitCode: 143, ManuallyStopped: true, AtEngineStart: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldRestart(tc.f); got != tc.want {
				t.Errorf("shouldRestart(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}

func TestRestartDelay(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, ran time.Duration
		want      time.Duration
	}{
		{"first", 0, time.Second, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, time.Second, 200 * time.Millisecond},
		{"doubles again", 800 * time.Millisecond, 0, 1600 * time.Millisecond},
		{"capped", 40 * time.Second, time.Second, time.Minute},
		{"stays capped", time.Minute, time.Second, time.Minute},
		{"reset after a long run", time.Minute, 10 * time.Second, 100 * time.Millisecond},
		{"almost long enough", 400 * time.Millisecond, 9999 * time.Millisecond, 800 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := restartDelay(tc.prev, tc.ran); got != tc.want {
				t.Errorf("restartDelay(%v, %v) = %v, want %v", tc.prev, tc.ran, got, tc.want)
			}
		})
	}
	t.Run("series", func(t *testing.T) {
		d := time.Duration(0)
		var got []time.Duration
		for i := 0; i < 12; i++ {
			d = restartDelay(d, 0)
			got = append(got, d)
		}
		if got[0] != 100*time.Millisecond || got[9] != 51200*time.Millisecond || got[10] != time.Minute || got[11] != time.Minute {
			t.Errorf("backoff series %v", got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				t.Errorf("backoff went down: %v", got)
			}
		}
	})
}
