package engine

// execState holds the exec instances (owned by the exec helper).
type execState struct{}
