package engine

import (
	"slices"
	"strings"

	"github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/image"
)

// eventFilterKeys are the filters docker's events take. The object kinds
// (container, network, ...) match the actor's ID or name by prefix.
var eventFilterKeys = []string{
	"config", "container", "daemon", "event", "image", "label", "network",
	"node", "plugin", "scope", "secret", "service", "type", "volume",
}

// eventFilter is a checked Filters for events.
type eventFilter Filters

// newEventFilter checks that f has only keys docker's events take.
func newEventFilter(f Filters) (eventFilter, error) {
	for k := range f {
		if !slices.Contains(eventFilterKeys, k) {
			return nil, Invalid("invalid filter '%s'", k)
		}
	}
	return eventFilter(f), nil
}

// match reports whether m passes every filter, with docker's rules: the
// values of one key are alternatives, except label where all must hold.
func (f eventFilter) match(m events.Message) bool {
	if len(f) == 0 {
		return true
	}
	if !f.matchAction(m.Action) || !f.exact("type", string(m.Type)) || !f.exact("scope", m.Scope) ||
		!f.matchImage(m) || !f.matchLabels(m.Actor.Attributes) {
		return false
	}
	for _, k := range []events.Type{
		events.ConfigEventType, events.ContainerEventType, events.DaemonEventType,
		events.NetworkEventType, events.NodeEventType, events.PluginEventType,
		events.SecretEventType, events.ServiceEventType, events.VolumeEventType,
	} {
		if !f.prefix(string(k), m.Actor.ID) && !f.prefix(string(k), m.Actor.Attributes["name"]) {
			return false
		}
	}
	return true
}

// exact: key unset, or one of its values is s.
func (f eventFilter) exact(key, s string) bool {
	vs, ok := f[key]
	return !ok || len(vs) == 0 || slices.Contains(vs, s)
}

// prefix: key unset, or one of its values is s or a prefix of it.
func (f eventFilter) prefix(key, s string) bool {
	if f.exact(key, s) {
		return true
	}
	for _, v := range f[key] {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

// matchAction matches event= against the action. Actions that carry a
// detail ("exec_start: sh -c ls", "health_status: healthy") match their
// bare name when a filter names one of those.
func (f eventFilter) matchAction(a events.Action) bool {
	for _, v := range f["event"] {
		switch v {
		case "exec_create", "exec_start", "health_status":
			return f.prefix("event", string(a))
		}
	}
	return f.exact("event", string(a))
}

// matchImage matches image= against the image of a container event (its
// "image" attribute) or the image itself (ID or "name"), with or without
// the tag.
func (f eventFilter) matchImage(m events.Message) bool {
	if _, ok := f["image"]; !ok {
		return true
	}
	nameAttr := "image"
	if m.Type == events.ImageEventType {
		nameAttr = "name"
	}
	name := m.Actor.Attributes[nameAttr]
	return f.exact("image", m.Actor.ID) || f.exact("image", name) ||
		f.exact("image", withoutTag(m.Actor.ID)) || f.exact("image", withoutTag(name))
}

// withoutTag is a reference as docker shows its repository ("nginx" for
// "docker.io/library/nginx:1.25"), or s when it is not one.
func withoutTag(s string) string {
	r, err := image.ParseReference(s)
	if err != nil {
		return s
	}
	return r.FamiliarName()
}

// matchLabels: every label= value ("key" or "key=value") holds for the
// actor's attributes.
func (f eventFilter) matchLabels(attrs map[string]string) bool {
	for _, v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}
