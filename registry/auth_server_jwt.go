package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The compact JWS (RFC 7515) of an ES256 JWT (RFC 7519), the token format
// of docker's token protocol: base64url(header) "." base64url(claims) "."
// base64url(r || s), r and s 32 bytes each, over SHA-256 of the first two
// parts.

// jwtHeader is the JOSE header berth writes and reads.
type jwtHeader struct {
	Type      string          `json:"typ,omitempty"`
	Algorithm string          `json:"alg"`
	KeyID     string          `json:"kid,omitempty"`
	Critical  json.RawMessage `json:"crit,omitempty"`
}

// tokenAccessClaim is one entry of a token's "access" claim, as
// docker/distribution defines it.
type tokenAccessClaim struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// jwtAudience is the "aud" claim: a string or a list of strings.
type jwtAudience []string

func (a jwtAudience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *jwtAudience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = jwtAudience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings")
	}
	*a = l
	return nil
}

// jwtTime is a NumericDate: seconds since the epoch. berth writes
// integers; other issuers may write fractions, which are truncated.
type jwtTime int64

func (t *jwtTime) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("a date is not a number: %s", b)
	}
	*t = jwtTime(f)
	return nil
}

func (t jwtTime) time() time.Time { return time.Unix(int64(t), 0) }

// tokenClaims are the claims of berth's tokens: the registered ones, the
// distribution "access" claim, and for refresh tokens the tag of the
// user's password entry.
type tokenClaims struct {
	Issuer    string             `json:"iss"`
	Subject   string             `json:"sub"`
	Audience  jwtAudience        `json:"aud"`
	Expires   *jwtTime           `json:"exp"`
	NotBefore *jwtTime           `json:"nbf,omitempty"`
	IssuedAt  *jwtTime           `json:"iat,omitempty"`
	ID        string             `json:"jti,omitempty"`
	Access    []tokenAccessClaim `json:"access"`
	EntryTag  string             `json:"berth_pwtag,omitempty"`
}

const jwtAlgorithm = "ES256"

// maxTokenLen bounds the tokens berth parses.
const maxTokenLen = 64 << 10

var errBadToken = errors.New("invalid token")

var b64 = base64.RawURLEncoding

// signJWT returns the compact JWS of claims signed by key (P-256).
func signJWT(key *ecdsa.PrivateKey, claims *tokenClaims) (string, error) {
	kid, err := keyID(&key.PublicKey)
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(jwtHeader{Type: "JWT", Algorithm: jwtAlgorithm, KeyID: kid})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

// jwtKey is a trusted public key and its key ID.
type jwtKey struct {
	pub *ecdsa.PublicKey
	id  string
}

// jwtKeys keeps the P-256 keys of keys, with their IDs.
func jwtKeys(keys ...*ecdsa.PublicKey) []jwtKey {
	var out []jwtKey
	for _, k := range keys {
		if k == nil {
			continue
		}
		if id, err := keyID(k); err == nil {
			out = append(out, jwtKey{k, id})
		}
	}
	return out
}

// verifyJWT checks the signature of a compact JWS against keys (the one
// its kid names, or each when it names none) and returns its claims. The
// algorithm must be ES256: "none", HMAC and the rest are refused, whatever
// the header says. The caller checks the claims.
func verifyJWT(raw string, keys []jwtKey) (*tokenClaims, error) {
	if len(raw) > maxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", errBadToken, maxTokenLen)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", errBadToken)
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", errBadToken, err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errBadToken, err)
	}
	if h.Algorithm != jwtAlgorithm {
		return nil, fmt.Errorf("%w: algorithm %q, want %s", errBadToken, h.Algorithm, jwtAlgorithm)
	}
	if len(h.Critical) > 0 {
		return nil, fmt.Errorf("%w: critical header parameters are not supported", errBadToken)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, fmt.Errorf("%w: bad ES256 signature encoding", errBadToken)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	verified := false
	for _, k := range keys {
		if h.KeyID != "" && k.id != h.KeyID {
			continue
		}
		if ecdsa.Verify(k.pub, sum[:], r, s) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: signature does not verify with a trusted key", errBadToken)
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errBadToken, err)
	}
	var c tokenClaims
	if err := json.Unmarshal(cb, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errBadToken, err)
	}
	return &c, nil
}

// keyID is the RFC 7638 thumbprint of a P-256 public key, which is how
// docker/distribution (v3) names the keys of its rootcertbundle.
func keyID(pub *ecdsa.PublicKey) (string, error) {
	if pub.Curve != elliptic.P256() {
		return "", fmt.Errorf("token signing key: %s is not P-256, which ES256 needs: %w", pub.Curve.Params().Name, ErrInvalid)
	}
	pt, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return "", fmt.Errorf("token signing key: %w", err)
	}
	// The members in lexical order, no white space: the RFC's canonical form.
	jwk := `{"crv":"P-256","kty":"EC","x":"` + b64.EncodeToString(pt[1:33]) + `","y":"` + b64.EncodeToString(pt[33:]) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return b64.EncodeToString(sum[:]), nil
}

// LoadOrCreateSigningKey reads the PEM ECDSA P-256 private key at path
// ("EC PRIVATE KEY" or PKCS #8 "PRIVATE KEY"), or creates one there (mode
// 0600, written to a temporary file and renamed into place) when there is
// no file (and its directory, 0700, if need be).
func LoadOrCreateSigningKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := parseSigningKey(b)
		if err != nil {
			return nil, fmt.Errorf("load signing key %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create signing key %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create signing key %s: %w", path, err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create signing key %s: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := writeKeyFile(path, data); err != nil {
		return nil, fmt.Errorf("create signing key %s: %w", path, err)
	}
	// Another process may have won the race to create it: use what is there.
	b, err = os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	if key, err = parseSigningKey(b); err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	return key, nil
}

// writeKeyFile creates path with data, atomically, unless it exists.
func writeKeyFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, or on failure
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A hard link, unlike a rename, never replaces a key another process
	// created meanwhile.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		// A file system without hard links: rename, which is atomic too.
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func parseSigningKey(b []byte) (*ecdsa.PrivateKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("no EC PRIVATE KEY or PRIVATE KEY PEM block: %w", ErrInvalid)
		}
		var key any
		var err error
		switch blk.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		ek, ok := key.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, fmt.Errorf("not an ECDSA P-256 key (ES256 needs one): %w", ErrInvalid)
		}
		return ek, nil
	}
}
