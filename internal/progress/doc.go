// Package progress reports the progress of transfers (pull, push, unpack)
// to the user, one line per item, drawn as docker's CLI draws them.
//
// Producers take a Sink; a Display is the Sink that renders to a terminal
// (lines redrawn in place with progress bars) or to a log or pipe (a plain
// line each time an item's status changes).
package progress
