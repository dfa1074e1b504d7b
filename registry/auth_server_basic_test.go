package registry

import (
	"errors"
	"net/http/httptest"
	"testing"
)

// authResult names what an Authorize call returned: "ok", "challenge" or
// "denied".
func authResult(t *testing.T, err error) string {
	t.Helper()
	var ch *Challenge
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ch):
		return "challenge"
	case errors.Is(err, ErrDenied) && err.Error() == "requested access to the resource is denied":
		return "denied"
	}
	t.Fatalf("unexpected error %T %v", err, err)
	return ""
}

var (
	authzCatalog = Access{Type: "registry", Name: "catalog", Actions: []string{ActionAll}}
	authzPull    = func(name string) Access { return RepositoryAccess(name, ActionPull) }
	authzPush    = func(name string) Access { return RepositoryAccess(name, ActionPull, ActionPush) }
)

func TestBasicAuthorizer(t *testing.T) {
	users, err := LoadHtpasswd(writeHtpasswd(t, "", "alice", "apw", "bob", "bpw", "carol", "cpw", "admin", "root"))
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		name       string
		user, pass string // "" and "": no credentials
		access     []Access
		want       string
	}
	for _, tc := range []struct {
		name  string
		opts  []AuthOption
		steps []step
	}{
		{"no ACL", nil, []step{
			{"anonymous pull", "", "", []Access{authzPull("a")}, "challenge"},
			{"anonymous ping", "", "", nil, "challenge"},
			{"user ping", "alice", "apw", nil, "ok"},
			{"user push", "alice", "apw", []Access{authzPush("a/b")}, "ok"},
			{"user delete", "bob", "bpw", []Access{RepositoryAccess("x", ActionDelete)}, "ok"},
			{"user catalog", "bob", "bpw", []Access{authzCatalog}, "ok"},
			{"wrong password", "alice", "bpw", []Access{authzPull("a")}, "challenge"},
			{"unknown user", "mallory", "apw", []Access{authzPull("a")}, "challenge"},
		}},
		{"anonymous pull", []AuthOption{WithAnonymousPull(true)}, []step{
			{"anonymous pull", "", "", []Access{authzPull("a/b")}, "ok"},
			{"anonymous catalog", "", "", []Access{authzCatalog}, "ok"},
			{"anonymous push", "", "", []Access{authzPush("a")}, "challenge"},
			{"anonymous delete", "", "", []Access{RepositoryAccess("a", ActionDelete)}, "challenge"},
			{"anonymous ping still challenged", "", "", nil, "challenge"},
			{"wrong password on a pull", "alice", "nope", []Access{authzPull("a")}, "challenge"},
			{"user push", "alice", "apw", []Access{authzPush("a")}, "ok"},
		}},
		{"ACL", []AuthOption{WithACL(authzACL)}, []step{
			{"anonymous pull of public", "", "", []Access{authzPull("public/a/b")}, "ok"},
			{"anonymous pull of library", "", "", []Access{authzPull("library/busybox")}, "challenge"},
			{"anonymous push of public", "", "", []Access{authzPush("public/a")}, "challenge"},
			{"user pull of library", "carol", "cpw", []Access{authzPull("library/busybox")}, "ok"},
			{"user push of library", "carol", "cpw", []Access{authzPush("library/busybox")}, "denied"},
			{"user pull of public", "carol", "cpw", []Access{authzPull("public/x")}, "ok"},
			{"union of two rules", "bob", "bpw", []Access{authzPush("shared/x")}, "ok"},
			{"own namespace, every action", "alice", "apw", []Access{authzPush("alice/a/b"), RepositoryAccess("alice/c", ActionDelete)}, "ok"},
			{"another's namespace", "alice", "apw", []Access{authzPull("bob/x")}, "denied"},
			{"mount from a readable repository", "alice", "apw", []Access{authzPush("alice/new"), authzPull("library/busybox")}, "ok"},
			{"mount from an unreadable one", "alice", "apw", []Access{authzPush("alice/new"), authzPull("bob/secret")}, "denied"},
			{"catalog without a rule", "alice", "apw", []Access{authzCatalog}, "denied"},
			{"catalog with a rule", "admin", "root", []Access{authzCatalog}, "ok"},
			{"wrong password", "alice", "bpw", []Access{authzPull("alice/a")}, "challenge"},
		}},
		{"empty ACL", []AuthOption{WithACL(ACL{})}, []step{
			{"user pull", "alice", "apw", []Access{authzPull("a")}, "denied"},
			{"user ping", "alice", "apw", nil, "ok"},
		}},
		{"ACL and anonymous pull", []AuthOption{WithACL(authzACL), WithAnonymousPull(true)}, []step{
			{"anonymous pull of anything", "", "", []Access{authzPull("bob/secret")}, "ok"},
			{"anonymous push", "", "", []Access{authzPush("public/a")}, "challenge"},
			{"user pull outside the ACL", "alice", "apw", []Access{authzPull("bob/secret")}, "ok"},
			{"user push outside the ACL", "alice", "apw", []Access{authzPush("bob/secret")}, "denied"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewBasicAuthorizer(users, tc.opts...)
			for _, s := range tc.steps {
				t.Run(s.name, func(t *testing.T) {
					r := httptest.NewRequest("GET", "/v2/", nil)
					if s.user != "" || s.pass != "" {
						r.SetBasicAuth(s.user, s.pass)
					}
					err := a.Authorize(r, s.access)
					if got := authResult(t, err); got != s.want {
						t.Fatalf("Authorize = %v (%s), want %s", err, got, s.want)
					}
					var ch *Challenge
					if errors.As(err, &ch) && ch.Header != `Basic realm="berth"` {
						t.Errorf("challenge header %q", ch.Header)
					}
				})
			}
		})
	}

	t.Run("realm", func(t *testing.T) {
		a := NewBasicAuthorizer(users, WithRealm(`my "registry"`))
		err := a.Authorize(httptest.NewRequest("GET", "/v2/", nil), nil)
		var ch *Challenge
		if !errors.As(err, &ch) || ch.Header != `Basic realm="my \"registry\""` {
			t.Fatalf("err = %v", err)
		}
		// Our client's parser reads it back.
		if got := parseChallenges([]string{ch.Header}); got[0].params["realm"] != `my "registry"` {
			t.Errorf("parsed %v", got)
		}
	})
	t.Run("bearer header", func(t *testing.T) {
		a := NewBasicAuthorizer(users, WithAnonymousPull(true))
		r := httptest.NewRequest("GET", "/v2/a/manifests/latest", nil)
		r.Header.Set("Authorization", "Bearer abc")
		if got := authResult(t, a.Authorize(r, []Access{authzPull("a")})); got != "challenge" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("empty credentials are anonymous", func(t *testing.T) {
		for _, tc := range []struct {
			opts []AuthOption
			want string
		}{
			{[]AuthOption{WithAnonymousPull(true)}, "ok"},
			{nil, "challenge"},
		} {
			r := httptest.NewRequest("GET", "/v2/a/manifests/latest", nil)
			r.SetBasicAuth("", "") // containers/image without credentials
			if got := authResult(t, NewBasicAuthorizer(users, tc.opts...).Authorize(r, []Access{authzPull("a")})); got != tc.want {
				t.Errorf("%d options: got %s, want %s", len(tc.opts), got, tc.want)
			}
		}
	})
	t.Run("no users", func(t *testing.T) {
		a := NewBasicAuthorizer(nil, WithAnonymousPull(true))
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.SetBasicAuth("alice", "apw")
		if got := authResult(t, a.Authorize(r, []Access{authzPull("a")})); got != "challenge" {
			t.Errorf("got %s", got)
		}
	})
}
