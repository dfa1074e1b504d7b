package dockerapi

import "github.com/berth-project/berth/engine"

// CONTRACT STUB (issue 8): owned by the secrets helper. Routes are in
// routes.go.

func (h *handler) secretList(c *call) error    { return engine.ErrNotImplemented }
func (h *handler) secretCreate(c *call) error  { return engine.ErrNotImplemented }
func (h *handler) secretInspect(c *call) error { return engine.ErrNotImplemented }
func (h *handler) secretRemove(c *call) error  { return engine.ErrNotImplemented }
func (h *handler) configList(c *call) error    { return engine.ErrNotImplemented }
func (h *handler) configCreate(c *call) error  { return engine.ErrNotImplemented }
func (h *handler) configInspect(c *call) error { return engine.ErrNotImplemented }
func (h *handler) configRemove(c *call) error  { return engine.ErrNotImplemented }
