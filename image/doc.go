// Package image handles container images: references, manifests, platform
// selection, unpacking (content -> layer -> snapshot), image config ->
// runtime spec, save/load/import/export, and the OCI image layout.
package image
