package dockerapi

import "github.com/berth-project/berth/engine"

// CONTRACT STUB (issue 8): owned by the volumes helper. Routes are in
// routes.go.

func (h *handler) volumeList(c *call) error    { return engine.ErrNotImplemented }
func (h *handler) volumeCreate(c *call) error  { return engine.ErrNotImplemented }
func (h *handler) volumeInspect(c *call) error { return engine.ErrNotImplemented }
func (h *handler) volumeRemove(c *call) error  { return engine.ErrNotImplemented }
func (h *handler) volumesPrune(c *call) error  { return engine.ErrNotImplemented }
