package registry

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestACLMatchName(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"busybox", "busybox", true},
		{"busybox", "library/busybox", false},
		{"library/*", "library/busybox", true},
		{"library/*", "library/a/b", false},
		{"library/*", "library", false},
		{"*", "busybox", true},
		{"*", "library/busybox", false},
		{"lib*/b?sybox", "library/busybox", true},
		{"team/[ab]*", "team/alpha", true},
		{"team/[ab]*", "team/gamma", false},
		{"team/**", "team/a", true},
		{"team/**", "team/a/b/c", true},
		{"team/**", "team", false},
		{"team/**", "team/", false},
		{"team/**", "teams/a", false},
		{"*/x/**", "a/x/b", true},
		{"*/x/**", "a/y/b", false},
		{"**", "a", true},
		{"**", "a/b/c", true},
	} {
		t.Run(tc.pattern+" "+tc.name, func(t *testing.T) {
			if got := matchName(tc.pattern, tc.name); got != tc.want {
				t.Errorf("matchName(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
			}
		})
	}
}

// authzACL is the ACL of the authorizer tests.
var authzACL = ACL{
	{Account: "", Name: "public/**", Actions: []string{"pull"}},
	{Account: "*", Name: "library/*", Actions: []string{"pull"}},
	{Account: "alice", Name: "alice/**", Actions: []string{"*"}},
	{Account: "bob", Name: "shared/*", Actions: []string{"push"}},
	{Account: "bob", Name: "shared/*", Actions: []string{"pull"}},
	{Account: "bob", Name: "library/*", Actions: []string{"delete"}},
	{Account: "admin", Type: "registry", Name: "catalog", Actions: []string{"*"}},
}

func TestACLActions(t *testing.T) {
	for _, tc := range []struct {
		name, account string
		authed        bool
		typ, res      string
		want          []string
	}{
		{"anonymous rule", "", false, "repository", "public/x", []string{"pull"}},
		{"anonymous rule applies to users too", "bob", true, "repository", "public/x/y", []string{"pull"}},
		{"any user rule is not for anonymous", "", false, "repository", "library/busybox", nil},
		{"any user rule", "carol", true, "repository", "library/busybox", []string{"pull"}},
		{"union of rules", "bob", true, "repository", "shared/x", []string{"pull", "push"}},
		{"union with any user rule", "bob", true, "repository", "library/x", []string{"delete", "pull"}},
		{"own namespace", "alice", true, "repository", "alice/a/b", []string{"*"}},
		{"no rule", "alice", true, "repository", "bob/x", nil},
		{"account must be authenticated", "alice", false, "repository", "alice/x", nil},
		{"catalog", "admin", true, "registry", "catalog", []string{"*"}},
		{"type matters", "admin", true, "repository", "catalog", nil},
		{"catalog needs a registry rule", "alice", true, "registry", "catalog", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := authzACL.actions(tc.account, tc.authed, tc.typ, tc.res)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("actions = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestACLLoad(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       ACL
		wantErr    string
	}{
		{"rules", `[{"account":"","name":"public/**","actions":["pull"]},{"account":"admin","type":"registry","name":"catalog","actions":["*"]}]`,
			ACL{{Account: "", Name: "public/**", Actions: []string{"pull"}}, {Account: "admin", Type: "registry", Name: "catalog", Actions: []string{"*"}}}, ""},
		{"empty", `[]`, ACL{}, ""},
		{"bad pattern", `[{"account":"a","name":"x[","actions":["pull"]}]`, nil, "rule 0"},
		{"** inside", `[{"account":"a","name":"a/**/b","actions":["pull"]}]`, nil, "last element"},
		{"no actions", `[{"account":"a","name":"x"}]`, nil, "no actions"},
		{"unknown type", `[{"account":"a","type":"blob","name":"x","actions":["pull"]}]`, nil, "unknown type"},
		{"empty name", `[{"account":"a","actions":["pull"]}]`, nil, "empty name"},
		{"not JSON", `{`, nil, "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "acl.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadACL(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v, want one naming %s and %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
