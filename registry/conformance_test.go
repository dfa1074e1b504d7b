package registry

// The OCI distribution-spec conformance suite, run against the server.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/imagetest"
)

// basicTestAuthorizer lets in one user with basic auth and challenges
// everyone else.
type basicTestAuthorizer struct{ user, pass string }

func (a basicTestAuthorizer) Authorize(r *http.Request, _ []Access) error {
	if u, p, ok := r.BasicAuth(); ok && u == a.user && p == a.pass {
		return nil
	}
	return &Challenge{Header: `Basic realm="berth-test"`, Reason: "authentication required"}
}

func TestConformance(t *testing.T) {
	cases := []struct {
		name       string
		authorizer Authorizer
		user, pass string
	}{
		{name: "anonymous"},
		{name: "basic-auth", authorizer: basicTestAuthorizer{"oci", "conformance-secret"}, user: "oci", pass: "conformance-secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []ServerOption
			if tc.authorizer != nil {
				opts = append(opts, WithAuthorizer(tc.authorizer))
			}
			opts = append(opts, WithServerLogf(t.Logf))
			s, err := NewServer(t.TempDir(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hs := httptest.NewServer(s)
			defer hs.Close()

			imagetest.RunConformance(t, imagetest.ConformanceTarget{
				Host: strings.TrimPrefix(hs.URL, "http://"), Username: tc.user, Password: tc.pass,
			})
		})
	}
}
