// Package registry speaks the OCI distribution protocol: a Client that
// resolves references, authenticates as docker does and pulls images into
// a content.Store, verified blob by blob; pushes them from one, sending
// only the blobs the registry lacks (mounting from another repository
// where it can); searches registries with docker's v1 search API; and a
// Server, an http.Handler that is a registry (distribution-spec v1.1) over
// a content.Local, with the Authorizers that make it private.
//
// The client takes registry hosts and repository names as strings (the
// caller parses references) and leaves platform selection to the caller
// through PullOptions.SelectManifest, so that it stays independent of
// package image.
//
// Hosts: "docker.io" is served by registry-1.docker.io. Plain HTTP is used
// for localhost, 127.0.0.0/8, ::1 and the hosts given to
// WithInsecureRegistries, HTTPS for every other host and for any host that
// has a directory in the certs dir (docker's /etc/docker/certs.d layout:
// <dir>/<host:port>/*.crt are trusted CAs, *.cert and *.key a client
// certificate).
//
// Authentication: a request goes out anonymously first; a 401 names the
// scheme. For Bearer the client gets a token from the challenge's realm,
// with credentials from the docker config when it has some, caches it per
// host and scope until it expires, and retries once; later requests to that
// host send the cached token up front. For Basic it sends the credentials.
//
// # Server
//
// Storage: NewServer(root) keeps blob and manifest bytes in a content.Local
// at root (blobs/<alg>/<hex>, ingest/ for writes in progress) and what
// they mean in one bbolt file, root/registry.db: per repository the blobs
// it links, its manifests (media type, size, subject, artifactType, and
// for search the org.opencontainers.image.description annotation), tags
// and the referrers index; and the upload sessions. A blob is visible in
// a repository only when that repository links it (an upload or a mount
// did), so who may pull repository A cannot read B's blobs by digest.
// Bytes become visible only after content has verified them; metadata
// changes in short write transactions that never wait on network or disk
// I/O of blob data, so a crash leaves either the old or the new state and,
// at worst, an orphan ingest or blob that the janitor or GarbageCollect
// removes.
//
// Uploads: a session's writer stays open in memory between PATCHes (a
// chunked upload hashes each byte once) and is closed after a few idle
// minutes; a restarted server reopens it, which rehashes what is there.
// The ingest's length is the upload's offset, so a request cut off
// mid-body leaves the bytes that arrived, and the client resumes from the
// Range a GET or a 416 gives it. Sessions idle for longer than the upload
// TTL, and ingests no session owns, are removed at start and every hour.
// sha512 uploads are verified by content's second pass at commit.
//
// Manifests: OCI image manifests and indexes and Docker schema 2
// manifests and lists; the body's mediaType must agree with Content-Type,
// and is what GET answers with. An image manifest's config and layers must
// be linked in the repository with the sizes it says (MANIFEST_BLOB_UNKNOWN
// otherwise), except non-distributable layers and layers with urls. An
// index may name manifests the repository does not have (a "sparse"
// index: a mirror of some platforms of a multi-platform image); they are
// simply not there to pull. An image whose layers are missing can never be
// pulled, so it is refused; the conformance suite's sparse data set, which
// pushes one, is therefore off in conformance_test.go. A subject need not
// exist (the spec requires accepting referrers before their subject);
// its manifest is answered with OCI-Subject and listed by the referrers
// API.
//
// Deletion unlinks: DELETE of a tag removes the tag, of a manifest the
// manifest and its tags, of a blob the repository's link. Bytes stay in
// the store until GarbageCollect, which runs offline (it needs the
// storage to itself: ErrStorageLocked otherwise) and whose doc says what
// it keeps.
//
// Access: with an Authorizer, each request asks for what it needs (see
// Access): pull to read, pull and push to upload or push a manifest,
// delete to delete, the registry's catalog to list repositories; a
// cross-repository mount also asks for pull on the source and, refused
// that, becomes an ordinary upload. Search lists only the repositories
// the caller may pull.
//
// Search: GET /v1/search?q=&n=&page= answers as docker's v1 search: the
// repositories whose name or description contains q, ignoring case. The
// description is the annotation of the manifest of the most recently
// pushed tag (an image's config label of the same name when the manifest
// has none; an index's first manifest that has one).
package registry
