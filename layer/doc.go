// Package layer applies layer tars to directories and produces them from
// directories: whiteouts, opaque directories, and every path resolved inside
// the root (no escape by .., symlink or hardlink).
//
// A layer is an OCI image layer: a tar stream, maybe compressed (Decompress,
// Compress), whose entries add or replace files and whose whiteouts
// (".wh.NAME", ".wh..wh..opq") remove what lower layers had.
//
// Apply unpacks an uncompressed layer onto a directory in one of two modes.
// By default the directory is the full merged tree (a copy snapshotter):
// whiteouts delete. WithOverlayWhiteouts makes the directory an overlayfs
// upper directory instead: whiteouts become 0/0 character devices and opaque
// directories get the trusted.overlay.opaque xattr, as overlayfs expects.
//
// Apply trusts nothing in the tar. Every entry is created through a
// descriptor of its parent directory, opened with openat2(RESOLVE_IN_ROOT),
// so "..", absolute names, symlinks (old, or made by earlier entries of the
// same tar, absolute or relative) and hardlink targets all resolve as if the
// root were "/": they cannot reach outside it. The entry itself is then made
// with *at system calls that never follow a symlink in the last component
// (O_NOFOLLOW|O_EXCL, AT_SYMLINK_NOFOLLOW, linkat without
// AT_SYMLINK_FOLLOW): an entry named like an existing symlink replaces the
// symlink instead of writing through it. openat2 needs Linux 5.6 or later;
// xattrs of symlinks, devices and fifos are set through the parent's
// /proc/self/fd link (lsetxattr has no descriptor-relative form), so /proc
// must be mounted when a layer has such xattrs.
//
// WriteTar, WriteDiff and WriteOverlayDiff produce layers: deterministic PAX
// tars with entries in path order, numeric owners only, no access or change
// times, modification times kept to the nanosecond.
package layer
