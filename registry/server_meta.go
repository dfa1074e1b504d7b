package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// The metadata database (registry.db, bbolt):
//
//	info/version                      schema version
//	uploads/<id>                      uploadRecord (JSON)
//	repositories/<name>/blobs/<digest>     size (decimal): the blob is linked
//	repositories/<name>/manifests/<digest> manifestRecord (JSON)
//	repositories/<name>/tags/<tag>         tagRecord (JSON)
//	repositories/<name>/referrers/<subject>\x00<referrer>   (empty)
//
// Blob and manifest bytes live in the content store beside it. A
// repository bucket goes away when its last link, manifest and tag do.
var (
	bucketInfo      = []byte("info")
	bucketUploads   = []byte("uploads")
	bucketRepos     = []byte("repositories")
	bucketBlobs     = []byte("blobs")
	bucketManifests = []byte("manifests")
	bucketTags      = []byte("tags")
	bucketReferrers = []byte("referrers")
	keyVersion      = []byte("version")
)

const metaVersion = "1"

func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketInfo, bucketUploads, bucketRepos} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	info := tx.Bucket(bucketInfo)
	switch v := info.Get(keyVersion); {
	case v == nil:
		return info.Put(keyVersion, []byte(metaVersion))
	case string(v) != metaVersion:
		return fmt.Errorf("metadata version %q is not %q", v, metaVersion)
	}
	return nil
}

// manifestRecord is what the server keeps about a manifest besides its
// bytes: enough to answer HEAD, the referrers API and search without
// reading the manifest.
type manifestRecord struct {
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Subject   digest.Digest `json:"subject,omitempty"`
	// ArtifactType is the referrers API's: the manifest's artifactType,
	// else (image manifests) its config's media type.
	ArtifactType string `json:"artifactType,omitempty"`
	// Annotations are kept for referrers (manifests with a subject)
	// only, which the referrers API lists with them.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Description is org.opencontainers.image.description, for search.
	Description string    `json:"description,omitempty"`
	Pushed      time.Time `json:"pushed"`
}

// tagRecord is where a tag points and when it was last pushed.
type tagRecord struct {
	Digest digest.Digest `json:"digest"`
	Pushed time.Time     `json:"pushed"`
}

// uploadRecord is a chunked upload in progress. Its data is in the content
// store's ingest of uploadRef(id).
type uploadRecord struct {
	Repo    string    `json:"repo"`
	Started time.Time `json:"started"`
	Touched time.Time `json:"touched"`
	Offset  int64     `json:"offset"`
}

// uploadRef is the content store reference of upload id's data.
func uploadRef(id string) string { return "upload-" + id }

func getJSON[T any](b *bolt.Bucket, key []byte) (T, bool, error) {
	var v T
	raw := b.Get(key)
	if raw == nil {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("decode %s record %q: %w", b.Tx().DB().Path(), key, err)
	}
	return v, true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// repoBuckets are the buckets of one repository.
type repoBuckets struct {
	name                             string
	blobs, manifests, tags, referrer *bolt.Bucket
}

// openRepo returns the buckets of repository name, or nil when it does not
// exist.
func openRepo(tx *bolt.Tx, name string) *repoBuckets {
	b := tx.Bucket(bucketRepos).Bucket([]byte(name))
	if b == nil {
		return nil
	}
	return &repoBuckets{
		name:      name,
		blobs:     b.Bucket(bucketBlobs),
		manifests: b.Bucket(bucketManifests),
		tags:      b.Bucket(bucketTags),
		referrer:  b.Bucket(bucketReferrers),
	}
}

// createRepo returns the buckets of repository name, creating them.
func createRepo(tx *bolt.Tx, name string) (*repoBuckets, error) {
	b, err := tx.Bucket(bucketRepos).CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create repository %s: %w", name, err)
	}
	for _, sub := range [][]byte{bucketBlobs, bucketManifests, bucketTags, bucketReferrers} {
		if _, err := b.CreateBucketIfNotExists(sub); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", name, err)
		}
	}
	return openRepo(tx, name), nil
}

// pruneRepo removes repository name when nothing is left in it.
func pruneRepo(tx *bolt.Tx, name string) error {
	rb := openRepo(tx, name)
	if rb == nil {
		return nil
	}
	for _, b := range []*bolt.Bucket{rb.blobs, rb.manifests, rb.tags, rb.referrer} {
		if k, _ := b.Cursor().First(); k != nil {
			return nil
		}
	}
	return tx.Bucket(bucketRepos).DeleteBucket([]byte(name))
}

// blobSize returns the size of blob d when it is linked in the repository.
func (rb *repoBuckets) blobSize(d digest.Digest) (int64, bool) {
	v := rb.blobs.Get([]byte(d))
	if v == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

func (rb *repoBuckets) linkBlob(d digest.Digest, size int64) error {
	return rb.blobs.Put([]byte(d), []byte(strconv.FormatInt(size, 10)))
}

func (rb *repoBuckets) manifest(d digest.Digest) (manifestRecord, bool, error) {
	return getJSON[manifestRecord](rb.manifests, []byte(d))
}

func (rb *repoBuckets) tag(tag string) (tagRecord, bool, error) {
	return getJSON[tagRecord](rb.tags, []byte(tag))
}

func referrerKey(subject, referrer digest.Digest) []byte {
	return []byte(subject.String() + "\x00" + referrer.String())
}

// referrersOf lists the manifests whose subject is subject.
func (rb *repoBuckets) referrersOf(subject digest.Digest) []digest.Digest {
	var out []digest.Digest
	prefix := []byte(subject.String() + "\x00")
	c := rb.referrer.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, digest.Digest(k[len(prefix):]))
	}
	return out
}

// removeManifest forgets manifest d: its record, the tags that point at
// it and its entry in its subject's referrers. Referrers of d stay: their
// subject may come back.
func (rb *repoBuckets) removeManifest(d digest.Digest, rec manifestRecord) error {
	if err := rb.manifests.Delete([]byte(d)); err != nil {
		return err
	}
	var tags [][]byte
	err := rb.tags.ForEach(func(k, v []byte) error {
		var t tagRecord
		if json.Unmarshal(v, &t) == nil && t.Digest == d {
			tags = append(tags, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range tags {
		if err := rb.tags.Delete(k); err != nil {
			return err
		}
	}
	if rec.Subject != "" {
		return rb.referrer.Delete(referrerKey(rec.Subject, d))
	}
	return nil
}
