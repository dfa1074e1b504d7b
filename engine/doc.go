// Package engine is berth's daemon core: images by name, containers and
// their lifecycle, exec, logs, restart policies and events, with one bbolt
// file of records and live restore of the containers that kept running
// (each under its own monitor process) while no engine was up.
//
// *Engine implements API, the Docker Engine API in Go; the daemon serves it
// over a socket (package dockerapi) and the CLI calls it in-process when no
// daemon answers.
package engine
