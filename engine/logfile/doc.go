// Package logfile writes and reads container logs in docker's json-file
// format ({"log":"...","stream":"stdout","time":"..."} per line) with
// size-based rotation (PATH, PATH.1, ... PATH.N-1, PATH.1 the newest
// rotated file), so docker's tools and ours read the same files.
package logfile
