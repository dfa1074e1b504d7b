package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	tokenTestService = "berth-test"
	tokenTestIssuer  = "berth-test-issuer"
	tokenTestOCI     = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`
)

func newSigningTestKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenRegistry is a registry whose /v2/ only asks a token Authorizer,
// with the token issuer at /token.
type tokenRegistry struct {
	srv    *httptest.Server
	authz  Authorizer
	issuer http.Handler

	mu     sync.Mutex
	tokens []url.Values // token requests: query or form, and "authorization"
}

func (r *tokenRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// newTokenRegistry starts a tokenRegistry; opts need no Key, Issuer or
// Service.
func newTokenRegistry(t *testing.T, opts TokenIssuerOptions) *tokenRegistry {
	t.Helper()
	if opts.Key == nil {
		opts.Key = newSigningTestKey(t)
	}
	opts.Issuer, opts.Service = tokenTestIssuer, tokenTestService
	iss, err := NewTokenIssuer(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &tokenRegistry{issuer: iss}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		v := url.Values{}
		for k, x := range req.Form {
			v[k] = x
		}
		v.Set("method", req.Method)
		v.Set("authorization", req.Header.Get("Authorization"))
		r.mu.Lock()
		r.tokens = append(r.tokens, v)
		r.mu.Unlock()
		iss.ServeHTTP(w, req)
	})
	mux.HandleFunc("/v2/", r.serveV2)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.authz = NewTokenAuthorizer(TokenAuthOptions{
		Realm: r.srv.URL + "/token", Service: tokenTestService, Issuer: tokenTestIssuer,
		Keys: []*ecdsa.PublicKey{&opts.Key.PublicKey},
	})
	return r
}

func (r *tokenRegistry) tokenLog() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.tokens...)
}

// serveV2 is the smallest registry: the access a request needs from its
// method and path, the Authorizer's answer, and a manifest for pulls.
func (r *tokenRegistry) serveV2(w http.ResponseWriter, req *http.Request) {
	var access []Access
	if p := strings.TrimPrefix(req.URL.Path, "/v2/"); p != "" {
		var name string
		for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
			if i := strings.LastIndex(p, sep); i > 0 {
				name = p[:i]
				break
			}
		}
		if name == "" {
			writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such route")
			return
		}
		switch req.Method {
		case http.MethodGet, http.MethodHead:
			access = []Access{RepositoryAccess(name, ActionPull)}
		case http.MethodDelete:
			access = []Access{RepositoryAccess(name, ActionDelete)}
		default:
			access = []Access{RepositoryAccess(name, ActionPull, ActionPush)}
		}
	}
	err := r.authz.Authorize(req, access)
	var ch *Challenge
	switch {
	case errors.As(err, &ch):
		w.Header().Set("WWW-Authenticate", ch.Header)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", ch.Error())
		return
	case err != nil:
		writeError(w, http.StatusForbidden, "DENIED", err.Error())
		return
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write([]byte(tokenTestOCI))
	default:
		w.WriteHeader(http.StatusCreated)
	}
}

// writeDockerAuth writes a docker config.json with credentials for host.
func writeDockerAuth(t *testing.T, host string, creds Credentials) string {
	t.Helper()
	entry := map[string]string{}
	if creds.Username != "" || creds.Password != "" {
		entry["auth"] = base64.StdEncoding.EncodeToString([]byte(creds.Username + ":" + creds.Password))
	}
	if creds.IdentityToken != "" {
		entry["identitytoken"] = creds.IdentityToken
	}
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: entry}})
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, string(b))
}

// tokenClient is a Client with creds for r.
func tokenClient(t *testing.T, r *tokenRegistry, creds Credentials) *Client {
	return NewClient(WithDockerConfig(writeDockerAuth(t, r.host(), creds)), WithCertsDir(t.TempDir()), WithLogf(t.Logf))
}

// tokenTestPush sends what a push of a manifest sends, through c's auth flow.
func tokenTestPush(ctx context.Context, c *Client, host, repo string) (*http.Response, error) {
	resp, err := c.do(ctx, request{method: http.MethodPut, host: host, repo: repo, path: repo + "/manifests/latest"})
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// decodeClaims reads a token's claims without verifying it.
func decodeClaims(t *testing.T, tok string) tokenClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c tokenClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTokenAuthClient runs our client's token flow against the issuer
// and the Authorizer.
func TestTokenAuthClient(t *testing.T) {
	ctx := context.Background()
	users, err := LoadHtpasswd(writeHtpasswd(t, "", "alice", "apw", "carol", "cpw"))
	if err != nil {
		t.Fatal(err)
	}
	acl := ACL{
		{Account: "alice", Name: "alice/**", Actions: []string{"*"}},
		{Account: "*", Name: "library/*", Actions: []string{"pull"}},
	}

	t.Run("pull with credentials", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		c := tokenClient(t, r, Credentials{Username: "alice", Password: "apw"})
		if _, _, err := c.Resolve(ctx, r.host(), "alice/app", "latest"); err != nil {
			t.Fatal(err)
		}
		log := r.tokenLog()
		if len(log) != 1 || log[0].Get("method") != "GET" || !strings.HasPrefix(log[0].Get("authorization"), "Basic ") ||
			log[0].Get("service") != tokenTestService || !reflect.DeepEqual(log[0]["scope"], []string{"repository:alice/app:pull"}) {
			t.Errorf("token requests: %v", log)
		}
		// The next pull presents the cached token up front.
		if _, _, err := c.Resolve(ctx, r.host(), "alice/app", "latest"); err != nil {
			t.Fatal(err)
		}
		if n := len(r.tokenLog()); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
	})

	t.Run("push with credentials", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		c := tokenClient(t, r, Credentials{Username: "alice", Password: "apw"})
		resp, err := tokenTestPush(ctx, c, r.host(), "alice/app")
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("push: %v %v", resp, err)
		}
		log := r.tokenLog()
		if got := log[len(log)-1]["scope"]; !reflect.DeepEqual(got, []string{"repository:alice/app:pull", "repository:alice/app:pull,push"}) {
			t.Errorf("scopes asked: %q", got)
		}
	})

	t.Run("a pull-only token cannot push", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		c := tokenClient(t, r, Credentials{Username: "carol", Password: "cpw"})
		if _, _, err := c.Resolve(ctx, r.host(), "library/busybox", "latest"); err != nil {
			t.Fatal(err)
		}
		resp, err := tokenTestPush(ctx, c, r.host(), "library/busybox")
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(ch, `error="insufficient_scope"`) ||
			!strings.Contains(ch, `scope="repository:library/busybox:pull,push"`) {
			t.Errorf("push answered %s, %s", resp.Status, ch)
		}
		// The issuer granted what the ACL allows of what carol asked: pull.
		log := r.tokenLog()
		last := log[len(log)-1]
		if last.Get("authorization") == "" {
			t.Fatal("the token request had no credentials")
		}
	})

	t.Run("anonymous without anonymous access", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		c := tokenClient(t, r, Credentials{})
		_, _, err := c.Resolve(ctx, r.host(), "library/busybox", "latest")
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "pull access denied") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		c := tokenClient(t, r, Credentials{Username: "alice", Password: "nope"})
		_, _, err := c.Resolve(ctx, r.host(), "alice/app", "latest")
		if err == nil || !strings.Contains(err.Error(), "incorrect username or password") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("anonymous pull mode", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, AnonymousPull: true})
		c := tokenClient(t, r, Credentials{})
		if _, _, err := c.Resolve(ctx, r.host(), "some/repo", "latest"); err != nil {
			t.Fatal(err)
		}
		if a := r.tokenLog()[0].Get("authorization"); a != "" {
			t.Errorf("anonymous token request sent Authorization %q", a)
		}
		resp, err := tokenTestPush(ctx, c, r.host(), "some/repo")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("anonymous push answered %s %s", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("identity token", func(t *testing.T) {
		r := newTokenRegistry(t, TokenIssuerOptions{Users: users, ACL: acl})
		// docker login's OAuth2 flow: a refresh token for the password.
		form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"apw"},
			"access_type": {"offline"}, "client_id": {"docker"}, "service": {tokenTestService}}
		resp, err := http.PostForm(r.srv.URL+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		var body tokenResponse
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || body.RefreshToken == "" {
			t.Fatalf("login: %s %+v", resp.Status, body)
		}
		c := tokenClient(t, r, Credentials{IdentityToken: body.RefreshToken})
		if _, _, err := c.Resolve(ctx, r.host(), "alice/app", "latest"); err != nil {
			t.Fatal(err)
		}
		last := r.tokenLog()[1]
		if last.Get("method") != "POST" || last.Get("grant_type") != "refresh_token" {
			t.Errorf("token request: %v", last)
		}
	})
}

// tokenAt signs claims as an issuer would, with header changes.
func tokenAt(t *testing.T, key *ecdsa.PrivateKey, c tokenClaims) string {
	t.Helper()
	tok, err := signJWT(key, &c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRawJWT signs raw header and claims JSON with key.
func signRawJWT(t *testing.T, key *ecdsa.PrivateKey, header, claims string) string {
	t.Helper()
	e := base64.RawURLEncoding
	input := e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(claims))
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + e.EncodeToString(sig)
}

// rawJWT assembles a JWT from raw header and claims JSON and a signature.
func rawJWT(header, claims string, sig []byte) string {
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(claims)) + "." + e.EncodeToString(sig)
}

func tokenTime(v int64) *jwtTime { t := jwtTime(v); return &t }

func TestTokenAuthorizer(t *testing.T) {
	key, other := newSigningTestKey(t), newSigningTestKey(t)
	now := time.Now()
	valid := func() tokenClaims {
		return tokenClaims{
			Issuer: tokenTestIssuer, Subject: "alice", Audience: jwtAudience{tokenTestService},
			Expires: tokenTime(now.Add(5 * time.Minute).Unix()), NotBefore: tokenTime(now.Unix()), IssuedAt: tokenTime(now.Unix()), ID: "x",
			Access: []tokenAccessClaim{{Type: "repository", Name: "a", Actions: []string{"pull"}}},
		}
	}
	with := func(f func(*tokenClaims)) string {
		c := valid()
		f(&c)
		return tokenAt(t, key, c)
	}
	good := tokenAt(t, key, valid())
	kid, _ := keyID(&key.PublicKey)
	parts := strings.Split(good, ".")
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])

	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 1
	tamperedClaims := strings.Replace(string(claimsJSON), `"name":"a"`, `"name":"b"`, 1)
	pubDER, _ := key.PublicKey.Bytes()
	mac := hmac.New(sha256.New, pubDER)
	hsHeader := `{"typ":"JWT","alg":"HS256","kid":"` + kid + `"}`
	mac.Write([]byte(base64.RawURLEncoding.EncodeToString([]byte(hsHeader)) + "." + parts[1]))

	pullA := []Access{RepositoryAccess("a", ActionPull)}
	for _, tc := range []struct {
		name   string
		authz  string // Authorization header
		access []Access
		want   string // "ok", or the challenge's error: "none", "invalid_token", "insufficient_scope"
	}{
		{"valid", "Bearer " + good, pullA, "ok"},
		{"scheme in lower case", "bearer " + good, pullA, "ok"},
		{"ping with a token", "Bearer " + good, nil, "ok"},
		{"no token", "", pullA, "none"},
		{"no token, ping", "", nil, "none"},
		{"basic credentials", "Basic YTpi", pullA, "none"},
		{"empty bearer", "Bearer ", pullA, "none"},
		{"not a JWT", "Bearer abc", pullA, "invalid_token"},
		{"expired", "Bearer " + with(func(c *tokenClaims) { c.Expires = tokenTime(now.Add(-10 * time.Minute).Unix()) }), pullA, "invalid_token"},
		{"expired within the leeway", "Bearer " + with(func(c *tokenClaims) { c.Expires = tokenTime(now.Add(-20 * time.Second).Unix()) }), pullA, "ok"},
		{"fractional dates", "Bearer " + signRawJWT(t, key, `{"alg":"ES256"}`, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d.5,"nbf":%d.25,"access":[{"type":"repository","name":"a","actions":["pull"]}]}`,
			tokenTestIssuer, tokenTestService, now.Add(time.Minute).Unix(), now.Unix())), pullA, "ok"},
		{"date as a string", "Bearer " + signRawJWT(t, key, `{"alg":"ES256"}`, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":"%d","access":[{"type":"repository","name":"a","actions":["pull"]}]}`,
			tokenTestIssuer, tokenTestService, now.Add(time.Minute).Unix())), pullA, "invalid_token"},
		{"no expiry", "Bearer " + with(func(c *tokenClaims) { c.Expires = nil }), pullA, "invalid_token"},
		{"not yet valid", "Bearer " + with(func(c *tokenClaims) { c.NotBefore = tokenTime(now.Add(10 * time.Minute).Unix()) }), pullA, "invalid_token"},
		{"wrong audience", "Bearer " + with(func(c *tokenClaims) { c.Audience = jwtAudience{"other"} }), pullA, "invalid_token"},
		{"audience list", "Bearer " + with(func(c *tokenClaims) { c.Audience = jwtAudience{"other", tokenTestService} }), pullA, "ok"},
		{"no audience", "Bearer " + with(func(c *tokenClaims) { c.Audience = nil }), pullA, "invalid_token"},
		{"wrong issuer", "Bearer " + with(func(c *tokenClaims) { c.Issuer = "evil" }), pullA, "invalid_token"},
		{"refresh token", "Bearer " + with(func(c *tokenClaims) { c.Audience = jwtAudience{"berth-refresh:" + tokenTestService}; c.Access = nil }), nil, "invalid_token"},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(flipped), pullA, "invalid_token"},
		{"tampered claims", "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedClaims)) + "." + parts[2], []Access{RepositoryAccess("b", ActionPull)}, "invalid_token"},
		{"alg none", "Bearer " + rawJWT(`{"typ":"JWT","alg":"none"}`, string(claimsJSON), nil), pullA, "invalid_token"},
		{"alg none, signature kept", "Bearer " + rawJWT(`{"typ":"JWT","alg":"none","kid":"`+kid+`"}`, string(claimsJSON), sig), pullA, "invalid_token"},
		{"alg HS256 keyed with the public key", "Bearer " + rawJWT(hsHeader, string(claimsJSON), mac.Sum(nil)), pullA, "invalid_token"},
		{"crit header", "Bearer " + signRawJWT(t, key, `{"alg":"ES256","crit":["exp"],"exp":1}`, string(claimsJSON)), pullA, "invalid_token"},
		{"another key", "Bearer " + tokenAt(t, newSigningTestKey(t), valid()), pullA, "invalid_token"},
		{"the other trusted key", "Bearer " + tokenAt(t, other, valid()), pullA, "ok"},
		{"unknown kid", "Bearer " + signRawJWT(t, key, `{"typ":"JWT","alg":"ES256","kid":"nope"}`, string(claimsJSON)), pullA, "invalid_token"},
		{"no kid: any trusted key", "Bearer " + signRawJWT(t, key, `{"alg":"ES256"}`, string(claimsJSON)), pullA, "ok"},
		{"no kid, untrusted key", "Bearer " + signRawJWT(t, newSigningTestKey(t), `{"alg":"ES256"}`, string(claimsJSON)), pullA, "invalid_token"},
		{"alg ES384", "Bearer " + signRawJWT(t, key, `{"alg":"ES384","kid":"`+kid+`"}`, string(claimsJSON)), pullA, "invalid_token"},
		{"pull token, push", "Bearer " + good, []Access{RepositoryAccess("a", ActionPull, ActionPush)}, "insufficient_scope"},
		{"pull token, delete", "Bearer " + good, []Access{RepositoryAccess("a", ActionDelete)}, "insufficient_scope"},
		{"other repository", "Bearer " + good, []Access{RepositoryAccess("b", ActionPull)}, "insufficient_scope"},
		{"mount needs both", "Bearer " + good, []Access{RepositoryAccess("a", ActionPull), RepositoryAccess("b", ActionPull)}, "insufficient_scope"},
		{"star grants push", "Bearer " + with(func(c *tokenClaims) { c.Access[0].Actions = []string{"*"} }), []Access{RepositoryAccess("a", ActionPull, ActionPush)}, "ok"},
		{"catalog", "Bearer " + with(func(c *tokenClaims) {
			c.Access = []tokenAccessClaim{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
		}), []Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}, "ok"},
		{"catalog needs its own claim", "Bearer " + good, []Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewTokenAuthorizer(TokenAuthOptions{Realm: "https://auth.example/token", Service: tokenTestService, Issuer: tokenTestIssuer,
				Keys: []*ecdsa.PublicKey{&other.PublicKey, &key.PublicKey}})
			r := httptest.NewRequest("GET", "/v2/", nil)
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			err := a.Authorize(r, tc.access)
			if tc.want == "ok" {
				if err != nil {
					t.Fatalf("Authorize = %v", err)
				}
				return
			}
			var ch *Challenge
			if !errors.As(err, &ch) {
				t.Fatalf("Authorize = %v, want a challenge", err)
			}
			chs := parseChallenges([]string{ch.Header})
			if len(chs) != 1 || chs[0].scheme != "bearer" {
				t.Fatalf("challenge %q", ch.Header)
			}
			p := chs[0].params
			if p["realm"] != "https://auth.example/token" || p["service"] != tokenTestService {
				t.Errorf("challenge %q", ch.Header)
			}
			if got := p["error"]; got != strings.TrimPrefix(tc.want, "none") {
				t.Errorf("error=%q, want %q (%s)", got, tc.want, ch.Reason)
			}
			var want []string
			for _, x := range mergeAccess(tc.access) {
				want = append(want, x.Scope())
			}
			if got := p["scope"]; got != strings.Join(want, " ") {
				t.Errorf("scope=%q, want %q", got, strings.Join(want, " "))
			}
		})
	}

	t.Run("challenge names every scope once", func(t *testing.T) {
		a := NewTokenAuthorizer(TokenAuthOptions{Realm: "https://r/token", Service: "svc", Issuer: "i"})
		err := a.Authorize(httptest.NewRequest("POST", "/v2/x/blobs/uploads/", nil), []Access{
			RepositoryAccess("x", ActionPush), RepositoryAccess("x", ActionPull), RepositoryAccess("y", ActionPull)})
		var ch *Challenge
		if !errors.As(err, &ch) || ch.Header != `Bearer realm="https://r/token",service="svc",scope="repository:x:pull,push repository:y:pull"` {
			t.Errorf("err = %v", err)
		}
	})
}

// tokenGet asks issuer for a token with a GET.
func tokenGet(t *testing.T, issuer http.Handler, query string, user, pass string) (*httptest.ResponseRecorder, tokenResponse) {
	t.Helper()
	r := httptest.NewRequest("GET", "/token?"+query, nil)
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	w := httptest.NewRecorder()
	issuer.ServeHTTP(w, r)
	var body tokenResponse
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
	}
	return w, body
}

// tokenPost asks issuer for a token with an OAuth2 POST.
func tokenPost(t *testing.T, issuer http.Handler, form url.Values) (*httptest.ResponseRecorder, tokenResponse) {
	t.Helper()
	r := httptest.NewRequest("POST", "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	issuer.ServeHTTP(w, r)
	var body tokenResponse
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
	}
	return w, body
}

func TestTokenIssuer(t *testing.T) {
	key := newSigningTestKey(t)
	htpath := writeHtpasswd(t, "", "alice", "apw", "bob", "bpw")
	users, err := LoadHtpasswd(htpath)
	if err != nil {
		t.Fatal(err)
	}
	acl := ACL{
		{Account: "alice", Name: "alice/**", Actions: []string{"*"}},
		{Account: "*", Name: "library/*", Actions: []string{"pull"}},
		{Account: "", Name: "public/*", Actions: []string{"pull"}},
		{Account: "alice", Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	newIssuer := func(t *testing.T, o TokenIssuerOptions) http.Handler {
		o.Key, o.Issuer, o.Service, o.Users = key, tokenTestIssuer, tokenTestService, users
		h, err := NewTokenIssuer(o)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	iss := newIssuer(t, TokenIssuerOptions{ACL: acl})
	access := func(a ...tokenAccessClaim) []tokenAccessClaim { return append([]tokenAccessClaim{}, a...) }

	for _, tc := range []struct {
		name, query, user, pass string
		want                    []tokenAccessClaim
	}{
		{"one scope", "service=berth-test&scope=repository:alice/app:pull,push", "alice", "apw",
			access(tokenAccessClaim{"repository", "alice/app", []string{"pull", "push"}})},
		{"no service", "scope=repository:alice/app:pull", "alice", "apw",
			access(tokenAccessClaim{"repository", "alice/app", []string{"pull"}})},
		{"the part the ACL allows", "scope=repository:library/busybox:pull,push,delete", "bob", "bpw",
			access(tokenAccessClaim{"repository", "library/busybox", []string{"pull"}})},
		{"nothing allowed is no error", "scope=repository:alice/app:push", "bob", "bpw", access()},
		{"no scope", "service=berth-test", "bob", "bpw", access()},
		{"several scopes, merged", "scope=repository:alice/a:pull&scope=repository:alice/a:push+repository:library/x:pull&scope=repository:bob/x:pull", "alice", "apw",
			access(tokenAccessClaim{"repository", "alice/a", []string{"pull", "push"}}, tokenAccessClaim{"repository", "library/x", []string{"pull"}})},
		{"catalog", "scope=registry:catalog:*", "alice", "apw", access(tokenAccessClaim{"registry", "catalog", []string{"*"}})},
		{"catalog refused", "scope=registry:catalog:*", "bob", "bpw", access()},
		{"resource class", "scope=repository(plugin):alice/p:pull", "alice", "apw", access(tokenAccessClaim{"repository", "alice/p", []string{"pull"}})},
		{"host:port in the name", "scope=repository:alice/localhost:5000/x:pull", "alice", "apw", access(tokenAccessClaim{"repository", "alice/localhost:5000/x", []string{"pull"}})},
		{"anonymous", "scope=repository:public/x:pull,push&scope=repository:library/x:pull", "", "",
			access(tokenAccessClaim{"repository", "public/x", []string{"pull"}})},
		{"account given", "account=alice&scope=repository:alice/a:pull", "alice", "apw", access(tokenAccessClaim{"repository", "alice/a", []string{"pull"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			w, body := tokenGet(t, iss, tc.query, tc.user, tc.pass)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if body.Token == "" || body.AccessToken != body.Token || body.ExpiresIn != 300 || body.RefreshToken != "" {
				t.Errorf("body %+v", body)
			}
			issued, err := time.Parse(time.RFC3339, body.IssuedAt)
			if err != nil || issued.Before(before.Truncate(time.Second)) {
				t.Errorf("issued_at %q: %v", body.IssuedAt, err)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			c, err := verifyJWT(body.Token, jwtKeys(&key.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tokenTestIssuer || c.Subject != tc.user || !reflect.DeepEqual(c.Audience, jwtAudience{tokenTestService}) ||
				c.ID == "" || c.Expires == nil || c.IssuedAt == nil || c.NotBefore == nil || *c.Expires-*c.IssuedAt != 300 {
				t.Errorf("claims %+v", c)
			}
			if !reflect.DeepEqual(c.Access, tc.want) {
				t.Errorf("access %+v, want %+v", c.Access, tc.want)
			}
			// The access claim is a list even when empty, as distribution expects.
			if raw := decodeRawClaims(t, body.Token); !strings.Contains(raw, `"access":[`) {
				t.Errorf("claims %s", raw)
			}
		})
	}

	for _, tc := range []struct {
		name, method, query, user, pass string
		code                            int
		errCode                         string
	}{
		{"wrong password", "GET", "scope=repository:alice/a:pull", "alice", "bpw", 401, "UNAUTHORIZED"},
		{"unknown user", "GET", "scope=repository:alice/a:pull", "mallory", "apw", 401, "UNAUTHORIZED"},
		{"other service", "GET", "service=other&scope=repository:alice/a:pull", "alice", "apw", 400, "UNSUPPORTED"},
		{"bad scope", "GET", "scope=repository:alice", "alice", "apw", 400, "UNSUPPORTED"},
		{"scope without actions", "GET", "scope=repository:alice/a:", "alice", "apw", 400, "UNSUPPORTED"},
		{"account is someone else", "GET", "account=bob&scope=repository:alice/a:pull", "alice", "apw", 400, "UNSUPPORTED"},
		{"method", "PUT", "", "alice", "apw", 405, "UNSUPPORTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/token?"+tc.query, nil)
			r.SetBasicAuth(tc.user, tc.pass)
			w := httptest.NewRecorder()
			iss.ServeHTTP(w, r)
			checkTokenError(t, w, tc.code, tc.errCode)
		})
	}

	t.Run("anonymous without anonymous access", func(t *testing.T) {
		// A token that grants nothing, not a 401: docker retries a
		// 401 from the token endpoint for 50 s before it gives up.
		iss := newIssuer(t, TokenIssuerOptions{})
		w, _ := tokenGet(t, iss, "scope=repository:x:pull", "", "")
		var body tokenResponse
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != 200 || len(decodeClaims(t, body.Token).Access) != 0 {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("empty basic credentials are anonymous", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/token?scope=repository:public/x:pull", nil)
		r.SetBasicAuth("", "")
		w := httptest.NewRecorder()
		iss.ServeHTTP(w, r)
		var body tokenResponse
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != 200 || len(decodeClaims(t, body.Token).Access) != 1 {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("bearer credentials", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/token?scope=repository:public/x:pull", nil)
		r.Header.Set("Authorization", "Bearer x")
		w := httptest.NewRecorder()
		iss.ServeHTTP(w, r)
		checkTokenError(t, w, 401, "UNAUTHORIZED")
	})
	t.Run("anonymous pull mode", func(t *testing.T) {
		iss := newIssuer(t, TokenIssuerOptions{AnonymousPull: true, Expiry: 90 * time.Second})
		w, body := tokenGet(t, iss, "scope=repository:x/y:pull,push,delete&scope=registry:catalog:*", "", "")
		if w.Code != 200 || body.ExpiresIn != 90 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		want := access(tokenAccessClaim{"repository", "x/y", []string{"pull"}}, tokenAccessClaim{"registry", "catalog", []string{"*"}})
		if c := decodeClaims(t, body.Token); !reflect.DeepEqual(c.Access, want) || c.Subject != "" {
			t.Errorf("claims %+v", c)
		}
		// Users still get everything (no ACL).
		_, body = tokenGet(t, iss, "scope=repository:x/y:pull,push,delete", "bob", "bpw")
		if c := decodeClaims(t, body.Token); !reflect.DeepEqual(c.Access, access(tokenAccessClaim{"repository", "x/y", []string{"delete", "pull", "push"}})) {
			t.Errorf("claims %+v", c)
		}
	})

	t.Run("offline token", func(t *testing.T) {
		w, body := tokenGet(t, iss, "scope=repository:alice/a:pull&offline_token=true&client_id=docker", "alice", "apw")
		if w.Code != 200 || body.RefreshToken == "" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		// A refresh token is no access token.
		a := NewTokenAuthorizer(TokenAuthOptions{Service: tokenTestService, Issuer: tokenTestIssuer, Keys: []*ecdsa.PublicKey{&key.PublicKey}})
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.Header.Set("Authorization", "Bearer "+body.RefreshToken)
		if err := a.Authorize(r, nil); err == nil {
			t.Error("a refresh token authorized a request")
		}
	})

	t.Run("OAuth2", func(t *testing.T) {
		iss := newIssuer(t, TokenIssuerOptions{ACL: acl})
		pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"apw"}, "client_id": {"containerd-client"},
			"service": {tokenTestService}, "scope": {"repository:alice/a:pull,push repository:bob/b:pull"}}
		w, body := tokenPost(t, iss, pw)
		if w.Code != 200 || body.AccessToken == "" || body.RefreshToken != "" || body.Scope != "repository:alice/a:pull,push" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		pw.Set("access_type", "offline")
		w, body = tokenPost(t, iss, pw)
		if w.Code != 200 || body.RefreshToken == "" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		refresh := body.RefreshToken
		if c := decodeClaims(t, refresh); c.Subject != "alice" || len(c.Access) != 0 {
			t.Errorf("refresh claims %+v", c)
		}
		rt := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"berth"},
			"service": {tokenTestService}, "scope": {"repository:alice/b:push"}}
		w, body = tokenPost(t, iss, rt)
		if w.Code != 200 || body.Scope != "repository:alice/b:push" || decodeClaims(t, body.AccessToken).Subject != "alice" {
			t.Fatalf("refresh: %d %s", w.Code, w.Body)
		}

		for _, tc := range []struct {
			name    string
			form    url.Values
			code    int
			errCode string
		}{
			{"wrong password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}, 401, "UNAUTHORIZED"},
			{"no grant type", url.Values{"username": {"alice"}, "password": {"apw"}}, 400, "UNSUPPORTED"},
			{"client credentials", url.Values{"grant_type": {"client_credentials"}}, 400, "UNSUPPORTED"},
			{"garbage refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"abc"}}, 401, "UNAUTHORIZED"},
			{"access token as refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body.AccessToken}}, 401, "UNAUTHORIZED"},
			{"other service", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"x"}}, 400, "UNSUPPORTED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w, _ := tokenPost(t, iss, tc.form)
				checkTokenError(t, w, tc.code, tc.errCode)
			})
		}

		t.Run("password change revokes refresh tokens", func(t *testing.T) {
			writeHtpasswd(t, htpath, "alice", "new", "bob", "bpw")
			w, _ := tokenPost(t, iss, rt)
			checkTokenError(t, w, 401, "UNAUTHORIZED")
			writeHtpasswd(t, htpath, "alice", "apw", "bob", "bpw") // as the other tests expect
		})
	})
}

// decodeRawClaims returns a token's claims JSON.
func decodeRawClaims(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkTokenError checks an error answer of the issuer: status, the
// registry error code, and an OAuth2 error.
func checkTokenError(t *testing.T, w *httptest.ResponseRecorder, code int, errCode string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body)
	}
	var body struct {
		Errors []ErrorEntry `json:"errors"`
		Error  string       `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != errCode || body.Error == "" {
		t.Errorf("body %s (%v)", w.Body, err)
	}
	if code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without a Basic challenge: %q", w.Header().Get("WWW-Authenticate"))
	}
}

func TestTokenIssuerOptions(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := newSigningTestKey(t)
	for _, tc := range []struct {
		name string
		opts TokenIssuerOptions
		want string
	}{
		{"no key", TokenIssuerOptions{Issuer: "i", Service: "s"}, "no signing key"},
		{"P-384 key", TokenIssuerOptions{Issuer: "i", Service: "s", Key: p384}, "P-256"},
		{"no issuer", TokenIssuerOptions{Service: "s", Key: key}, "no issuer"},
		{"no service", TokenIssuerOptions{Issuer: "i", Key: key}, "no service"},
		{"bad ACL", TokenIssuerOptions{Issuer: "i", Service: "s", Key: key, ACL: ACL{{Name: "["}}}, "ACL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTokenIssuer(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) && tc.name != "bad ACL" {
				t.Errorf("err = %v, want one about %s", err, tc.want)
			}
		})
	}
}

func TestTokenSigningKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	k1, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	k2, err := LoadOrCreateSigningKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reloaded a different key (%v)", err)
	}

	t.Run("creates its directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		if _, err := LoadOrCreateSigningKey(filepath.Join(dir, "key.pem")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory: %v %v", fi, err)
		}
	})

	t.Run("concurrent creation agrees", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "key.pem")
		keys := make([]*ecdsa.PrivateKey, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := LoadOrCreateSigningKey(path)
				if err != nil {
					t.Error(err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if k == nil || !k.Equal(keys[0]) {
				t.Fatal("processes racing to create the key got different keys")
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, pem, want string }{
			{"garbage", "not a key", "no EC PRIVATE KEY"},
			{"P-384", keyPEM(t, p384), "P-256"},
			{"RSA", keyPEM(t, rsaKey), "P-256"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "key.pem")
				os.WriteFile(path, []byte(tc.pem), 0o600)
				if _, err := LoadOrCreateSigningKey(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want one naming the file and %q", err, tc.want)
				}
			})
		}
	})

	t.Run("signs tokens the authorizer takes", func(t *testing.T) {
		iss, err := NewTokenIssuer(TokenIssuerOptions{Issuer: "i", Service: "s", Key: k2, AnonymousPull: true})
		if err != nil {
			t.Fatal(err)
		}
		_, body := tokenGet(t, iss, "scope=repository:a:pull", "", "")
		a := NewTokenAuthorizer(TokenAuthOptions{Service: "s", Issuer: "i", Keys: []*ecdsa.PublicKey{&k1.PublicKey}})
		r := httptest.NewRequest("GET", "/v2/a/manifests/x", nil)
		r.Header.Set("Authorization", "Bearer "+body.Token)
		if err := a.Authorize(r, []Access{RepositoryAccess("a", ActionPull)}); err != nil {
			t.Error(err)
		}
		// The header names the key by its RFC 7638 thumbprint.
		var h jwtHeader
		hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(body.Token, ".")[0])
		json.Unmarshal(hb, &h)
		if kid, _ := keyID(&k1.PublicKey); h.KeyID != kid || h.Algorithm != "ES256" || h.Type != "JWT" || len(kid) != 43 {
			t.Errorf("header %+v, kid %s", h, kid)
		}
	})
}

// keyPEM is key in PKCS #8 PEM.
func keyPEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
