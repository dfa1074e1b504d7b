// Package nsenter is the C stage of berth's container init: before the Go
// runtime starts, it joins existing namespaces, creates new ones (writing user
// namespace maps through the parent) and forks into a pid namespace.
//
// Importing the package links the stage into the binary; it stays inert unless
// the process was started with _BERTH_NSENTER set. The Go side of the protocol
// is Bootstrap, which the parent encodes and sends on the init socket.
package nsenter
