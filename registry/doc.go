// Package registry speaks the OCI distribution protocol: a Client that
// resolves references, authenticates as docker does and pulls images into
// a content.Store, verified blob by blob; pushes them from one, sending
// only the blobs the registry lacks (mounting from another repository
// where it can); and searches registries with docker's v1 search API.
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
package registry
