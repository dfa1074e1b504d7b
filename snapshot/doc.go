// Package snapshot keeps the layered filesystem trees that images unpack
// into and containers run on, and returns the mounts that present them; it
// never mounts anything itself.
//
// A Snapshotter holds three kinds of snapshot under keys of any string:
// active ones, writable, made by Prepare on a committed parent; views,
// read-only, made by View; and committed ones, immutable, made from an
// active snapshot by Commit, which only renames it. Image unpack prepares
// an active snapshot on the previous layer's committed one, writes the
// layer into its UpperDir and commits it under the layer's chain ID;
// a container prepares its root filesystem on the image's top layer.
//
// Two drivers implement it. NewOverlay stacks the trees with overlayfs: a
// snapshot's tree holds only its own changes, whiteouts in overlayfs's
// format, and its mounts are one overlay (or a bind mount where there is
// nothing to stack). NewCopy works on any filesystem: an active snapshot
// starts as a copy of its parent's whole tree (reflinked where possible),
// layers are applied to it with whiteouts as plain deletions, and its
// mounts are bind mounts.
//
// Both keep their metadata in one JSON file under their root, replaced
// whole under a flock, so that several berth processes may share a root; a
// snapshot's files live in root/snapshots/<number>, never in a path made
// from its key. Commit makes the tree durable before it records it, and
// Remove forgets a snapshot before it deletes its tree, so that a crash
// leaves at worst an orphan directory, which the next open (or Cleanup)
// removes.
package snapshot
