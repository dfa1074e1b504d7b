package registry

import (
	"net/http"
	"sort"
	"strings"
)

// This file is the contract between the server (server*.go), which knows
// what a request asks for, and an Authorizer (auth_server*.go), which knows
// who asks and what they may do.

// Actions a request can need on a repository, as docker's token scopes
// name them.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
)

// Access is one permission a request needs: actions on a resource. Type is
// "repository" (Name a repository) or "registry" (Name "catalog", for the
// catalog and search).
type Access struct {
	Type    string
	Name    string
	Actions []string
}

// Scope renders a as a token scope: "repository:library/busybox:pull,push".
func (a Access) Scope() string {
	acts := append([]string(nil), a.Actions...)
	sort.Strings(acts)
	return a.Type + ":" + a.Name + ":" + strings.Join(acts, ",")
}

// RepositoryAccess is the Access for actions on repository name.
func RepositoryAccess(name string, actions ...string) Access {
	return Access{Type: "repository", Name: name, Actions: actions}
}

// Authorizer decides whether a request may do what it asks. The server
// calls it once per request with everything the request needs (a
// cross-repository mount needs push on the target and pull on the source).
//
// Authorize returns nil when the request may go on. Otherwise it returns a
// *Challenge when the client should authenticate (or authenticate again
// with a wider token): the server answers 401 UNAUTHORIZED with the
// challenge's WWW-Authenticate header. Any other error means the client is
// known and not allowed; the server answers 403 DENIED with the error's
// text.
type Authorizer interface {
	Authorize(r *http.Request, access []Access) error
}

// Challenge is an Authorizer's request to authenticate.
type Challenge struct {
	// Header is the WWW-Authenticate value, for example
	// `Basic realm="berth"` or `Bearer realm="https://h/token",service="h",scope="repository:a:push"`.
	Header string
	// Reason is for the error body and logs: "authentication required",
	// "invalid token", "insufficient scope".
	Reason string
}

func (c *Challenge) Error() string {
	if c.Reason == "" {
		return "authentication required"
	}
	return c.Reason
}
