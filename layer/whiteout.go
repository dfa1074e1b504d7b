package layer

import (
	"path"
	"strings"
)

// Whiteout names, as OCI layers spell them (inherited from AUFS).
const (
	// WhiteoutPrefix starts the name of an entry that removes, from lower
	// layers, the file named by the rest of its name.
	WhiteoutPrefix = ".wh."
	// WhiteoutOpaque is the entry that makes its directory opaque: nothing
	// the lower layers have in it shows through.
	WhiteoutOpaque = WhiteoutPrefix + WhiteoutPrefix + ".opq"
	// whiteoutMeta starts AUFS metadata names (".wh..wh.plnk", ...) other
	// than WhiteoutOpaque; Apply skips them.
	whiteoutMeta = WhiteoutPrefix + WhiteoutPrefix
)

// Overlayfs xattrs. A layer tar never sets them (they would steer overlayfs:
// redirects, metacopy origins); producers turn the opaque one into
// WhiteoutOpaque and drop the others.
const (
	overlayOpaqueXattr   = "trusted.overlay.opaque"
	overlayRedirectXattr = "trusted.overlay.redirect"
	overlayMetacopyXattr = "trusted.overlay.metacopy"
)

// isOverlayXattr reports an xattr that belongs to overlayfs, in its trusted
// namespace or (mounted with userxattr) its user one.
func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// selinuxXattr is a host's label for a file under its own policy: neither
// written into layers nor applied from them.
const selinuxXattr = "security.selinux"

// layerXattr reports whether an xattr belongs in a layer: not overlayfs's,
// not a SELinux label.
func layerXattr(name string) bool {
	return !isOverlayXattr(name) && name != selinuxXattr
}

// paxXattr prefixes xattrs in PAX records, as GNU tar and star write them.
const paxXattr = "SCHILY.xattr."

// cleanName turns a tar entry name into a path relative to the root with
// no "." or ".." left in it, "" for the root itself. ".." cannot climb above
// the root: the name is cleaned as if it were absolute.
func cleanName(name string) string {
	return path.Clean("/" + name)[1:]
}

// splitRel splits a cleaned relative path into its directory ("" for the
// root) and its last component.
func splitRel(rel string) (dir, base string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// joinRel joins a cleaned relative directory and a name.
func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
