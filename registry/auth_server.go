package registry

import (
	"net/http"
	"slices"
	"strings"
)

// The registry server's side of authentication: Authorizers for the
// server (basic auth over an htpasswd file, or bearer tokens), the token
// issuer that hands out those tokens, and the policy both apply.
//
// Policy. Without an ACL, authenticated users may do everything; anonymous
// callers may pull (and list the catalog) only in anonymous read-only
// mode. With an ACL, every caller gets the union of its matching rules,
// and anonymous read-only mode adds pull on every repository (and the
// catalog) for everyone.
//
// A request that needs nothing (the server's GET /v2/, which clients send
// first to learn how to authenticate) is answered with a challenge unless
// it carries valid credentials: docker only sends credentials to
// registries whose /v2/ asked for them, so a /v2/ open to anonymous
// callers would leave it unable to push.

// AuthOption configures the basic-auth Authorizer.
type AuthOption func(*authConfig)

type authConfig struct {
	realm  string
	policy authPolicy
}

// WithRealm sets the realm of the Basic challenge ("berth" by default).
func WithRealm(realm string) AuthOption {
	return func(c *authConfig) { c.realm = realm }
}

// WithAnonymousPull turns on anonymous read-only mode: anyone may pull;
// pushing and deleting need credentials.
func WithAnonymousPull(on bool) AuthOption {
	return func(c *authConfig) { c.policy.anonymousPull = on }
}

// WithACL limits what each account may do to what acl grants. A nil ACL
// is no ACL (authenticated users may do everything); an empty one grants
// nothing. Check acl first (LoadACL does, or ACL.Validate): a malformed
// pattern matches no name.
func WithACL(acl ACL) AuthOption {
	return func(c *authConfig) { c.policy.acl = acl }
}

// authPolicy decides which actions an account has on a resource.
type authPolicy struct {
	acl           ACL // nil: everything for authenticated users
	anonymousPull bool
}

// actions returns what account (anonymous unless authenticated) may do on
// the resource typ/name; "*" stands for every action.
func (p authPolicy) actions(account string, authenticated bool, typ, name string) []string {
	var out []string
	switch {
	case p.acl == nil && authenticated:
		return []string{ActionAll}
	case p.acl != nil:
		out = p.acl.actions(account, authenticated, typ, name)
	}
	if p.anonymousPull {
		switch typ {
		case "repository":
			out = append(out, ActionPull)
		case "registry":
			if name == "catalog" {
				out = append(out, ActionAll)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// grantsAnonymous reports whether anonymous callers may do anything at
// all.
func (p authPolicy) grantsAnonymous() bool {
	return p.anonymousPull || p.acl.grantsAnonymous()
}

// allows reports whether account may do everything access asks.
func (p authPolicy) allows(account string, authenticated bool, access []Access) bool {
	for _, a := range access {
		got := p.actions(account, authenticated, a.Type, a.Name)
		for _, act := range a.Actions {
			if !covers(got, act) {
				return false
			}
		}
	}
	return true
}

// covers reports whether granted actions include act.
func covers(granted []string, act string) bool {
	return slices.Contains(granted, act) || slices.Contains(granted, ActionAll)
}

// errAccessDenied is what a known caller without the access it asks for
// gets (403); its text is docker's.
var errAccessDenied error = accessDeniedError{}

type accessDeniedError struct{}

func (accessDeniedError) Error() string { return "requested access to the resource is denied" }
func (accessDeniedError) Unwrap() error { return ErrDenied }

// basicAuthorizer checks basic credentials against an htpasswd file.
type basicAuthorizer struct {
	users  *Htpasswd
	header string // the Basic challenge
	policy authPolicy
}

var _ Authorizer = (*basicAuthorizer)(nil)

// NewBasicAuthorizer returns an Authorizer that takes HTTP basic
// credentials checked against h (nil: no users, only anonymous access).
// Missing or wrong credentials, when the request needs them, draw a Basic
// challenge; a valid user without the access gets an error (403).
func NewBasicAuthorizer(h *Htpasswd, opts ...AuthOption) Authorizer {
	c := authConfig{realm: "berth"}
	for _, o := range opts {
		o(&c)
	}
	return &basicAuthorizer{users: h, header: "Basic realm=" + quoteParam(c.realm), policy: c.policy}
}

func (b *basicAuthorizer) Authorize(r *http.Request, access []Access) error {
	user, pass, ok := r.BasicAuth()
	// Empty basic credentials are what containers/image sends when it
	// has none: anonymous, like no Authorization header at all.
	anonymous := r.Header.Get("Authorization") == "" || ok && user == "" && pass == ""
	if ok && !anonymous {
		// Wrong credentials are refused even where anonymous callers may
		// go: `docker login` with a wrong password must fail.
		if b.users == nil || !b.users.Check(user, pass) {
			return &Challenge{Header: b.header, Reason: "invalid username or password"}
		}
		if !b.policy.allows(user, true, access) {
			return errAccessDenied
		}
		return nil
	}
	if len(access) > 0 && anonymous && b.policy.allows("", false, access) {
		return nil
	}
	return &Challenge{Header: b.header, Reason: "authentication required"}
}

// quoteParam quotes an auth-param value (RFC 7230 quoted-string).
func quoteParam(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// mergeAccess merges the entries of access that name the same resource,
// in the order they first appear, with sorted distinct actions.
func mergeAccess(access []Access) []Access {
	var out []Access
	for _, a := range access {
		i := slices.IndexFunc(out, func(o Access) bool { return o.Type == a.Type && o.Name == a.Name })
		if i < 0 {
			out = append(out, Access{Type: a.Type, Name: a.Name})
			i = len(out) - 1
		}
		out[i].Actions = append(out[i].Actions, a.Actions...)
	}
	for i := range out {
		slices.Sort(out[i].Actions)
		out[i].Actions = slices.Compact(out[i].Actions)
	}
	return out
}

// parseScope parses a token scope, "type[(class)]:name:action,action",
// which needs at least one action.
// The name may hold colons (a host:port); the type is up to the first
// colon, the actions after the last.
func parseScope(s string) (Access, bool) {
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i <= 0 || j <= i+1 {
		return Access{}, false
	}
	typ := s[:i]
	if k := strings.IndexByte(typ, '('); k > 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:k] // docker's resource class, "repository(plugin)"
	}
	a := Access{Type: typ, Name: s[i+1 : j]}
	for act := range strings.SplitSeq(s[j+1:], ",") {
		if act = strings.TrimSpace(act); act != "" {
			a.Actions = append(a.Actions, act)
		}
	}
	return a, len(a.Actions) > 0
}
