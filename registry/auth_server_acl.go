package registry

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// ACL says who may do what on which repositories. The actions an account
// has on a resource are the union of the actions of every rule that
// matches it; what no rule grants is denied.
//
// In JSON it is a list of rules:
//
//	[
//	  {"account": "",      "name": "public/**", "actions": ["pull"]},
//	  {"account": "*",     "name": "**",        "actions": ["pull"]},
//	  {"account": "alice", "name": "alice/**",  "actions": ["*"]},
//	  {"account": "admin", "type": "registry",  "name": "catalog", "actions": ["*"]}
//	]
type ACL []ACLRule

// ACLRule grants Actions on the resources that Type and Name match to
// Account.
type ACLRule struct {
	// Account is a user name; "*" is any authenticated user; "" is
	// anonymous, and since signing in must never take access away, a rule
	// for "" applies to authenticated users too.
	Account string `json:"account"`
	// Type is the resource type, "repository" when empty, or "registry"
	// (Name "catalog": listing and searching the repositories).
	Type string `json:"type,omitempty"`
	// Name is a path.Match pattern of resource names, where '*' stays
	// within one path element: "library/*" matches "library/busybox" but
	// not "library/a/b". A final element "**" matches one or more
	// elements: "team/**" matches "team/a" and "team/a/b" (not "team");
	// "**" alone matches every name.
	Name string `json:"name"`
	// Actions are "pull", "push", "delete", or "*" for all of them.
	Actions []string `json:"actions"`
}

// LoadACL reads an ACL from a JSON file and checks its patterns.
func LoadACL(file string) (ACL, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load ACL %s: %w", file, err)
	}
	var acl ACL
	if err := json.Unmarshal(b, &acl); err != nil {
		return nil, fmt.Errorf("load ACL %s: %w", file, err)
	}
	if err := acl.Validate(); err != nil {
		return nil, fmt.Errorf("load ACL %s: %w", file, err)
	}
	return acl, nil
}

// Validate checks every rule: a well-formed pattern, a known type and at
// least one action.
func (a ACL) Validate() error {
	for i, r := range a {
		if r.Type != "" && r.Type != "repository" && r.Type != "registry" {
			return fmt.Errorf("rule %d: unknown type %q: %w", i, r.Type, ErrInvalid)
		}
		if r.Name == "" {
			return fmt.Errorf("rule %d: empty name pattern: %w", i, ErrInvalid)
		}
		pat := strings.TrimSuffix(strings.TrimSuffix(r.Name, "**"), "/")
		if strings.Contains(pat, "**") {
			return fmt.Errorf("rule %d: name %q: \"**\" may only be the last element: %w", i, r.Name, ErrInvalid)
		}
		if _, err := path.Match(r.Name, ""); err != nil {
			return fmt.Errorf("rule %d: name %q: %w", i, r.Name, err)
		}
		if len(r.Actions) == 0 {
			return fmt.Errorf("rule %d: no actions: %w", i, ErrInvalid)
		}
	}
	return nil
}

// matches reports whether the rule applies to account (authenticated or
// not) and resource typ/name.
func (r ACLRule) matches(account string, authenticated bool, typ, name string) bool {
	switch {
	case r.Account == "":
	case r.Account == "*":
		if !authenticated {
			return false
		}
	default:
		if !authenticated || r.Account != account {
			return false
		}
	}
	rt := r.Type
	if rt == "" {
		rt = "repository"
	}
	return rt == typ && matchName(r.Name, name)
}

// matchName matches name against an ACL name pattern (see ACLRule.Name).
func matchName(pattern, name string) bool {
	if pattern == "**" {
		return name != ""
	}
	if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
		// prefix matches as many leading elements of name as it has,
		// and at least one element must follow.
		n := strings.Count(prefix, "/") + 1
		parts := strings.SplitN(name, "/", n+1)
		if len(parts) <= n || parts[n] == "" {
			return false
		}
		ok, err := path.Match(prefix, strings.Join(parts[:n], "/"))
		return ok && err == nil
	}
	ok, err := path.Match(pattern, name)
	return ok && err == nil
}

// actions is the union of what the rules grant account on typ/name.
func (a ACL) actions(account string, authenticated bool, typ, name string) []string {
	var out []string
	for _, r := range a {
		if r.matches(account, authenticated, typ, name) {
			out = append(out, r.Actions...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// grantsAnonymous reports whether any rule grants anonymous callers
// anything.
func (a ACL) grantsAnonymous() bool {
	for _, r := range a {
		if r.Account == "" {
			return true
		}
	}
	return false
}
