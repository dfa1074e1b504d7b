// Package mount describes a filesystem mount (type, source, target, options)
// the way snapshotters emit it and the runtime applies it, and turns fstab-style
// options into mount(2) flags.
package mount
