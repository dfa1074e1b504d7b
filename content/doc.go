// Package content is berth's content-addressed blob store: blobs are kept by
// digest, and a write becomes visible only after Commit has verified its
// size and digest.
//
// The on-disk layout under a store's root is an OCI image layout's blobs
// directory (blobs/<algorithm>/<hex>) plus an ingest directory that holds
// writes in progress, one per reference, so an interrupted download resumes
// where it stopped and a second writer of the same reference (in this
// process or another) waits for the first instead of racing it.
package content
