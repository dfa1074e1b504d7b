// Package oci holds berth's OCI data helpers: loading, validating and
// generating runtime specs over the official runtime-spec types. It does no
// other I/O than reading and writing config.json.
package oci
