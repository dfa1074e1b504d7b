package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Docker's token protocol, both ends: a token issuer (the realm of a
// Bearer challenge) and the Authorizer that checks its tokens. A token is
// an ES256 JWT whose "access" claim lists what it grants, as
// docker/distribution defines it.

const (
	defaultTokenExpiry   = 5 * time.Minute
	defaultRefreshExpiry = 30 * 24 * time.Hour
	// tokenLeeway is the clock skew tolerated on exp and nbf, as
	// docker/distribution tolerates it.
	tokenLeeway = 60 * time.Second
	// maxTokenScopes bounds the scopes of one token request.
	maxTokenScopes = 100
)

// TokenIssuerOptions configure a token issuer.
type TokenIssuerOptions struct {
	// Issuer is the "iss" of its tokens; Service their "aud" and the
	// service its requests must name (when they name one). Both required.
	Issuer, Service string
	// Key signs tokens: ECDSA P-256 (ES256). Required.
	Key *ecdsa.PrivateKey
	// Users are the accounts; nil for none (only anonymous access).
	Users *Htpasswd
	// ACL and AnonymousPull are the policy, as for NewBasicAuthorizer's
	// WithACL and WithAnonymousPull.
	ACL           ACL
	AnonymousPull bool
	// Expiry is the lifetime of access tokens (5 minutes by default).
	Expiry time.Duration
	// RefreshExpiry is the lifetime of refresh tokens (30 days by
	// default), which clients keep as their login. Changing a user's
	// password or removing the user revokes them.
	RefreshExpiry time.Duration
}

type tokenIssuer struct {
	opts    TokenIssuerOptions
	policy  authPolicy
	keys    []jwtKey // the public half of opts.Key, to read refresh tokens
	refresh string   // audience of refresh tokens
}

// NewTokenIssuer returns the handler of docker's token protocol, to mount
// where the registry's Bearer challenges point (their realm):
//
//   - GET ?service=S&scope=T:N:A&scope=... with optional basic credentials
//     answers {"token", "access_token", "expires_in", "issued_at"}, plus a
//     "refresh_token" when the query says offline_token=true;
//   - POST, an OAuth2 form (as docker login and containerd send it), with
//     grant_type=password (username, password) or grant_type=refresh_token
//     (refresh_token), service, scope (space-separated) and client_id,
//     answers the same with "scope"; access_type=offline asks for a
//     refresh token.
//
// Wrong credentials or refresh tokens draw a 401 with a JSON error.
// Scopes the caller may not have are no error: the token grants the part
// of the request the policy allows, possibly nothing, and an anonymous
// caller gets such a token too, as from Docker Hub. (A 401 here instead
// makes docker retry its push for 50 s before saying it was refused; a
// token that grants nothing makes the registry say "insufficient_scope"
// and docker stop at once.)
func NewTokenIssuer(opts TokenIssuerOptions) (http.Handler, error) {
	switch {
	case opts.Key == nil:
		return nil, fmt.Errorf("new token issuer: no signing key: %w", ErrInvalid)
	case opts.Key.Curve != elliptic.P256():
		return nil, fmt.Errorf("new token issuer: signing key is not ECDSA P-256, which ES256 needs: %w", ErrInvalid)
	case opts.Issuer == "":
		return nil, fmt.Errorf("new token issuer: no issuer name: %w", ErrInvalid)
	case opts.Service == "":
		return nil, fmt.Errorf("new token issuer: no service name: %w", ErrInvalid)
	}
	if err := opts.ACL.Validate(); err != nil {
		return nil, fmt.Errorf("new token issuer: ACL: %w", err)
	}
	if opts.Expiry <= 0 {
		opts.Expiry = defaultTokenExpiry
	}
	if opts.RefreshExpiry <= 0 {
		opts.RefreshExpiry = defaultRefreshExpiry
	}
	return &tokenIssuer{
		opts:    opts,
		policy:  authPolicy{acl: opts.ACL, anonymousPull: opts.AnonymousPull},
		keys:    jwtKeys(&opts.Key.PublicKey),
		refresh: "berth-refresh:" + opts.Service,
	}, nil
}

// tokenResponse is the body of a successful token request.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// tokenRequest is what a GET or POST asks for.
type tokenRequest struct {
	service string
	scopes  []string
	subject string // "" for anonymous
	authed  bool
	offline bool
	oauth   bool // a POST: answer with "scope"
}

// tokenError is a refusal: an HTTP status, the registry error code and
// the OAuth2 error (RFC 6749 5.2) the body carries, and a message.
type tokenError struct {
	status      int
	code, oauth string
	msg         string
}

func (e *tokenError) Error() string { return e.msg }

func (t *tokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	var req tokenRequest
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		req, err = t.readGet(r)
	case http.MethodPost:
		req, err = t.readPost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		err = &tokenError{http.StatusMethodNotAllowed, "UNSUPPORTED", "invalid_request", "method " + r.Method + " not allowed"}
	}
	if err == nil && req.service != "" && req.service != t.opts.Service {
		err = &tokenError{http.StatusBadRequest, "UNSUPPORTED", "invalid_request", fmt.Sprintf("unknown service %q: this issuer serves %q", req.service, t.opts.Service)}
	}
	var resp *tokenResponse
	if err == nil {
		resp, err = t.issue(req)
	}
	if err != nil {
		var te *tokenError
		if !errors.As(err, &te) {
			te = &tokenError{http.StatusInternalServerError, "UNKNOWN", "server_error", err.Error()}
		}
		writeTokenError(w, te, t.opts.Service)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func writeTokenError(w http.ResponseWriter, e *tokenError, realm string) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Basic realm="+quoteParam(realm))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors":            []map[string]string{{"code": e.code, "message": e.msg}},
		"error":             e.oauth,
		"error_description": e.msg,
	})
}

func badScope(s string) error {
	return &tokenError{http.StatusBadRequest, "UNSUPPORTED", "invalid_scope", fmt.Sprintf("invalid scope %q: want type:name:actions", s)}
}

var errBadCredentials = &tokenError{http.StatusUnauthorized, "UNAUTHORIZED", "invalid_grant", "incorrect username or password"}

// readGet reads docker's GET token request.
func (t *tokenIssuer) readGet(r *http.Request) (tokenRequest, error) {
	q := r.URL.Query()
	req := tokenRequest{service: q.Get("service"), offline: q.Get("offline_token") == "true"}
	for _, s := range q["scope"] {
		req.scopes = append(req.scopes, strings.Fields(s)...)
	}
	if user, pass, ok := r.BasicAuth(); ok && (user != "" || pass != "") {
		if !t.checkPassword(user, pass) {
			return req, errBadCredentials
		}
		if a := q.Get("account"); a != "" && a != user {
			return req, &tokenError{http.StatusBadRequest, "UNSUPPORTED", "invalid_request", fmt.Sprintf("account %q is not the authenticated user", a)}
		}
		req.subject, req.authed = user, true
	} else if r.Header.Get("Authorization") != "" && !ok {
		return req, &tokenError{http.StatusUnauthorized, "UNAUTHORIZED", "invalid_client", "only basic credentials are accepted"}
	}
	return req, nil
}

// readPost reads an OAuth2 token request.
func (t *tokenIssuer) readPost(w http.ResponseWriter, r *http.Request) (tokenRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return tokenRequest{}, &tokenError{http.StatusBadRequest, "UNSUPPORTED", "invalid_request", "bad form: " + err.Error()}
	}
	f := r.PostForm
	req := tokenRequest{service: f.Get("service"), scopes: strings.Fields(f.Get("scope")), oauth: true}
	switch f.Get("grant_type") {
	case "password":
		user := f.Get("username")
		if !t.checkPassword(user, f.Get("password")) {
			return req, errBadCredentials
		}
		req.subject, req.authed = user, true
		req.offline = f.Get("access_type") == "offline"
	case "refresh_token":
		user, err := t.checkRefresh(f.Get("refresh_token"))
		if err != nil {
			return req, &tokenError{http.StatusUnauthorized, "UNAUTHORIZED", "invalid_grant", "invalid refresh token: " + err.Error()}
		}
		req.subject, req.authed = user, true
	default:
		return req, &tokenError{http.StatusBadRequest, "UNSUPPORTED", "unsupported_grant_type", fmt.Sprintf("unsupported grant_type %q: want password or refresh_token", f.Get("grant_type"))}
	}
	return req, nil
}

func (t *tokenIssuer) checkPassword(user, pass string) bool {
	return t.opts.Users != nil && user != "" && t.opts.Users.Check(user, pass)
}

// checkRefresh verifies a refresh token of this issuer and returns its
// user, who must still have the password the token was issued under.
func (t *tokenIssuer) checkRefresh(raw string) (string, error) {
	c, err := verifyJWT(raw, t.keys)
	if err != nil {
		return "", err
	}
	if err := checkClaims(c, t.opts.Issuer, t.refresh, time.Now()); err != nil {
		return "", err
	}
	if c.Subject == "" || t.opts.Users == nil || !sameTag(t.opts.Users.entryTag(c.Subject), c.EntryTag) {
		return "", errors.New("the user or their password changed")
	}
	return c.Subject, nil
}

// issue grants what the policy allows of req and signs the tokens.
func (t *tokenIssuer) issue(req tokenRequest) (*tokenResponse, error) {
	if len(req.scopes) > maxTokenScopes {
		return nil, &tokenError{http.StatusBadRequest, "UNSUPPORTED", "invalid_scope", fmt.Sprintf("%d scopes: at most %d", len(req.scopes), maxTokenScopes)}
	}
	var wanted []Access
	for _, s := range req.scopes {
		a, ok := parseScope(s)
		if !ok {
			return nil, badScope(s)
		}
		wanted = append(wanted, a)
	}
	granted := []tokenAccessClaim{}
	var scopes []string
	for _, a := range mergeAccess(wanted) {
		have := t.policy.actions(req.subject, req.authed, a.Type, a.Name)
		var acts []string
		for _, act := range a.Actions {
			if covers(have, act) {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			granted = append(granted, tokenAccessClaim{Type: a.Type, Name: a.Name, Actions: acts})
			scopes = append(scopes, Access{Type: a.Type, Name: a.Name, Actions: acts}.Scope())
		}
	}
	now := time.Now()
	tok, err := t.sign(&tokenClaims{Subject: req.subject, Audience: jwtAudience{t.opts.Service}, Access: granted}, now, t.opts.Expiry)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int(t.opts.Expiry / time.Second),
		IssuedAt:    now.UTC().Format(time.RFC3339),
	}
	if req.oauth {
		resp.Scope = strings.Join(scopes, " ")
	}
	if req.offline && req.authed {
		tag := ""
		if t.opts.Users != nil {
			tag = t.opts.Users.entryTag(req.subject)
		}
		resp.RefreshToken, err = t.sign(&tokenClaims{Subject: req.subject, Audience: jwtAudience{t.refresh}, EntryTag: tag}, now, t.opts.RefreshExpiry)
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// sign fills in the registered claims of c and signs it.
func (t *tokenIssuer) sign(c *tokenClaims, now time.Time, life time.Duration) (string, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	iat, exp := jwtTime(now.Unix()), jwtTime(now.Add(life).Unix())
	c.Issuer = t.opts.Issuer
	c.IssuedAt, c.NotBefore, c.Expires = &iat, &iat, &exp
	c.ID = b64.EncodeToString(id)
	return signJWT(t.opts.Key, c)
}

// checkClaims checks a token's issuer, audience and validity period.
func checkClaims(c *tokenClaims, issuer, audience string, now time.Time) error {
	switch {
	case c.Issuer != issuer:
		return fmt.Errorf("%w: issued by %q, not %q", errBadToken, c.Issuer, issuer)
	case !slices.Contains(c.Audience, audience):
		return fmt.Errorf("%w: not for service %q", errBadToken, audience)
	case c.Expires == nil:
		return fmt.Errorf("%w: no expiry", errBadToken)
	case now.After(c.Expires.time().Add(tokenLeeway)):
		return fmt.Errorf("%w: expired at %s", errBadToken, c.Expires.time().UTC().Format(time.RFC3339))
	case c.NotBefore != nil && now.Before(c.NotBefore.time().Add(-tokenLeeway)):
		return fmt.Errorf("%w: not valid before %s", errBadToken, c.NotBefore.time().UTC().Format(time.RFC3339))
	}
	return nil
}

// TokenAuthOptions configure a token Authorizer.
type TokenAuthOptions struct {
	// Realm is the token issuer's URL, for challenges (empty: /token on
	// the scheme and host the request came to, for a registry serving
	// its own issuer under several names); Service the
	// registry's name, which tokens must have in their audience; Issuer
	// the "iss" tokens must have.
	Realm, Service, Issuer string
	// Keys are the issuers' public keys (P-256; others are ignored, and
	// without any every token is refused). A token whose header names a
	// key ID (an RFC 7638 thumbprint) is checked against that key only.
	Keys []*ecdsa.PublicKey
}

type tokenAuthorizer struct {
	opts TokenAuthOptions
	keys []jwtKey
}

var _ Authorizer = (*tokenAuthorizer)(nil)

// NewTokenAuthorizer returns an Authorizer that takes Bearer tokens of a
// token issuer (ES256 JWTs, from NewTokenIssuer or any issuer of docker's
// token protocol). A request without a token is challenged to get one
// from the realm for the scopes it needs; an invalid or expired token
// draws a challenge with error="invalid_token", and a valid one that does
// not grant every access the request needs one with
// error="insufficient_scope" (a 401, so that clients get a wider token).
func NewTokenAuthorizer(opts TokenAuthOptions) Authorizer {
	return &tokenAuthorizer{opts: opts, keys: jwtKeys(opts.Keys...)}
}

func (a *tokenAuthorizer) Authorize(r *http.Request, access []Access) error {
	access = mergeAccess(access)
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "bearer") || raw == "" {
		return a.challenge(r, access, "", "authentication required")
	}
	c, err := verifyJWT(raw, a.keys)
	if err == nil {
		err = checkClaims(c, a.opts.Issuer, a.opts.Service, time.Now())
	}
	if err != nil {
		return a.challenge(r, access, "invalid_token", err.Error())
	}
	for _, want := range access {
		for _, act := range want.Actions {
			if !tokenGrants(c.Access, want.Type, want.Name, act) {
				return a.challenge(r, access, "insufficient_scope", "insufficient scope: the token does not grant "+want.Scope())
			}
		}
	}
	return nil
}

// tokenGrants reports whether a token's access claim grants act on
// typ/name.
func tokenGrants(claims []tokenAccessClaim, typ, name, act string) bool {
	for _, c := range claims {
		if c.Type == typ && c.Name == name && covers(c.Actions, act) {
			return true
		}
	}
	return false
}

// challenge is the Bearer challenge for access, with an RFC 6750 error
// code when there is one.
func (a *tokenAuthorizer) challenge(r *http.Request, access []Access, code, reason string) *Challenge {
	realm := a.opts.Realm
	if realm == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		realm = scheme + "://" + r.Host + "/token"
	}
	h := "Bearer realm=" + quoteParam(realm) + ",service=" + quoteParam(a.opts.Service)
	var scopes []string
	for _, x := range access {
		scopes = append(scopes, x.Scope())
	}
	if len(scopes) > 0 {
		h += ",scope=" + quoteParam(strings.Join(scopes, " "))
	}
	if code != "" {
		h += ",error=" + quoteParam(code)
	}
	return &Challenge{Header: h, Reason: reason}
}
