// Package imagetest makes image fixtures for tests: OCI image layouts of a
// runnable busybox image built from the host's static busybox (with extra,
// whiteout and big layers, several compressions, multi-platform indexes),
// and private docker-registry instances (plain, basic auth, token auth,
// TLS) to push them to.
//
// Everything is built at test time and deterministic: the same options give
// the same digests.
package imagetest
