// Package monitor is the small per-container process that owns a running
// container: it creates and starts it through the runtime (so the
// container's init is its child), keeps its stdio (pipes or a pty), writes
// its logs, serves attach, resize and wait on unix sockets, and records the
// exit code in a file when the container ends. The engine can stop, crash
// or restart meanwhile; it finds the monitor again by its directory.
package monitor
