// Package volume keeps named volumes: docker's local driver, a directory
// under the store's root or a filesystem (driver options type, device, o)
// mounted there while containers use it.
package volume
