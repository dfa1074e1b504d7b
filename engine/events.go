package engine

import (
	"github.com/moby/moby/api/types/events"
)

// eventBus fans events out to subscribers and keeps recent ones for
// `since` (owned by the events helper).
type eventBus struct{}

// emit publishes an event of type typ and action about actor id.
func (e *Engine) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
}
