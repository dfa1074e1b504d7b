package registry

// The OCI distribution-spec conformance suite, run against the server.

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// conformanceTool builds the conformance tool (a tool of go.mod) once per
// test binary run.
func conformanceTool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the conformance suite takes a while; not in -short")
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("no go command to build the conformance tool: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "conformance")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/opencontainers/distribution-spec/conformance")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the conformance tool: %v\n%s", err, out)
	}
	return bin
}

// basicTestAuthorizer lets in one user with basic auth and challenges
// everyone else.
type basicTestAuthorizer struct{ user, pass string }

func (a basicTestAuthorizer) Authorize(r *http.Request, _ []Access) error {
	if u, p, ok := r.BasicAuth(); ok && u == a.user && p == a.pass {
		return nil
	}
	return &Challenge{Header: `Basic realm="berth-test"`, Reason: "authentication required"}
}

// junitReport is the part of the tool's junit.xml the test reads.
type junitReport struct {
	Tests    int `xml:"tests,attr"`
	Errors   int `xml:"errors,attr"`
	Failures int `xml:"failures,attr"`
	Skipped  int `xml:"skipped,attr"`
	Disabled int `xml:"disabled,attr"`
	Suites   []struct {
		Cases []struct {
			Name      string `xml:"name,attr"`
			Status    string `xml:"status,attr"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// resultsReport is the part of results.yaml the test reads.
type resultsReport struct {
	APIs map[string]string `yaml:"apis"`
	Data map[string]string `yaml:"data"`
}

func TestConformance(t *testing.T) {
	bin := conformanceTool(t)
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

			results := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Dir = results
			cmd.Env = append(os.Environ(),
				"OCI_REGISTRY="+strings.TrimPrefix(hs.URL, "http://"),
				"OCI_TLS=disabled",
				"OCI_RESULTS_DIR="+results,
				"OCI_VERSION=1.1",
				"OCI_USERNAME="+tc.user,
				"OCI_PASSWORD="+tc.pass,
				"OCI_API_BLOBS_UPLOAD_CANCEL=true",
				"OCI_API_BLOBS_DIGEST_HEADER=true",
				"OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
				"OCI_API_MANIFESTS_DIGEST_HEADER=true",
				"OCI_API_MANIFESTS_TAG_PARAM=true",
				// The sparse data set pushes an image manifest whose
				// layer was never pushed; the server refuses those
				// (MANIFEST_BLOB_UNKNOWN), which the spec allows.
				"OCI_DATA_SPARSE=false",
			)
			out, runErr := cmd.CombinedOutput()

			b, err := os.ReadFile(filepath.Join(results, "junit.xml"))
			if err != nil {
				t.Fatalf("conformance tool: %v (no junit.xml: %v)\n%s", runErr, err, out)
			}
			var ju junitReport
			if err := xml.Unmarshal(b, &ju); err != nil {
				t.Fatal(err)
			}
			passed := ju.Tests - ju.Errors - ju.Failures - ju.Skipped - ju.Disabled
			t.Logf("conformance: %d tests: %d passed, %d failed, %d errors, %d skipped, %d disabled",
				ju.Tests, passed, ju.Failures, ju.Errors, ju.Skipped, ju.Disabled)
			for _, suite := range ju.Suites {
				for _, c := range suite.Cases {
					if c.Status != "passed" {
						t.Errorf("%s: %s\n%s", c.Status, c.Name, c.SystemOut)
					}
				}
			}
			var rr resultsReport
			b, err = os.ReadFile(filepath.Join(results, "results.yaml"))
			if err == nil {
				err = yaml.Unmarshal(b, &rr)
			}
			if err != nil {
				t.Fatalf("results.yaml: %v", err)
			}
			if len(rr.APIs) == 0 || len(rr.Data) == 0 {
				t.Fatalf("results.yaml lists no APIs or data sets:\n%s", b)
			}
			for api, st := range rr.APIs {
				if st != "Pass" {
					t.Errorf("API %q: %s", api, st)
				}
			}
			for data, st := range rr.Data {
				if st != "Pass" && !(data == "Sparse Manifests" && st == "Disabled") {
					t.Errorf("data set %q: %s", data, st)
				}
			}
			if ju.Tests == 0 || ju.Tests != passed || runErr != nil {
				t.Errorf("conformance tool: %v\n%s", runErr, lastLines(string(out), 60))
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
