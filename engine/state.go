package engine

// coreState is the container core's state (owned by the core helper).
type coreState struct{}
