package imagetest

import (
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// ConformanceTarget is a registry for RunConformance.
type ConformanceTarget struct {
	// Host is "127.0.0.1:port".
	Host string
	// CACert, when set, is the PEM CA of a TLS registry.
	CACert string
	// Username and Password, when set, log in.
	Username, Password string
}

// conformanceEnv switches on every API and data set of the suite but the
// sparse one, which pushes an image manifest whose layer was never pushed:
// berth's registry refuses that with MANIFEST_BLOB_UNKNOWN, as the spec
// allows.
var conformanceEnv = []string{
	"OCI_VERSION=1.1",
	"OCI_API_PULL=true", "OCI_API_PUSH=true",
	"OCI_API_BLOBS_ATOMIC=true", "OCI_API_BLOBS_DELETE=true", "OCI_API_BLOBS_DIGEST_HEADER=true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS=true", "OCI_API_BLOBS_UPLOAD_CANCEL=true",
	"OCI_API_MANIFESTS_ATOMIC=true", "OCI_API_MANIFESTS_DELETE=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true",
	"OCI_API_MANIFESTS_TAG_PARAM=true",
	"OCI_API_TAGS_ATOMIC=true", "OCI_API_TAGS_DELETE=true", "OCI_API_TAGS_LIST=true",
	"OCI_API_REFERRER=true",
	"OCI_DATA_IMAGE=true", "OCI_DATA_INDEX=true", "OCI_DATA_INDEX_LIST=true",
	"OCI_DATA_ARTIFACT=true", "OCI_DATA_SUBJECT=true", "OCI_DATA_SUBJECT_MISSING=true",
	"OCI_DATA_ARTIFACT_LIST=true", "OCI_DATA_SUBJECT_LIST=true", "OCI_DATA_DATA_FIELD=true",
	"OCI_DATA_NONDISTRIBUTABLE=true", "OCI_DATA_CUSTOM_FIELDS=true", "OCI_DATA_NO_LAYERS=true",
	"OCI_DATA_EMPTY_BLOB=true", "OCI_DATA_SHA512=true",
	"OCI_DATA_SPARSE=false",
}

var conformanceTool struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// conformanceBin builds the suite (a tool of this module's go.mod) once
// per test binary.
func conformanceBin(t testing.TB) string {
	t.Helper()
	c := &conformanceTool
	c.once.Do(func() {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			c.err = err
			return
		}
		dir, err := os.MkdirTemp("", "berth-conformance")
		if err != nil {
			c.err = err
			return
		}
		c.bin = filepath.Join(dir, "conformance")
		cmd := exec.Command("go", "build", "-o", c.bin, "github.com/opencontainers/distribution-spec/conformance")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		c.out, c.err = cmd.CombinedOutput()
	})
	if c.err != nil {
		t.Fatalf("build the conformance suite: %v\n%s", c.err, c.out)
	}
	return c.bin
}

type junitReport struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
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

// RunConformance runs the OCI distribution-spec conformance suite, every
// workflow and data set, against target and fails t unless every test
// passed and every API and data set reads "Pass". It returns the number
// of tests.
func RunConformance(t testing.TB, target ConformanceTarget) int {
	t.Helper()
	if testing.Short() {
		t.Skip("the conformance suite takes a few seconds; not in -short")
	}
	bin := conformanceBin(t)
	results := t.TempDir()
	env := append(os.Environ(), conformanceEnv...)
	env = append(env, "OCI_REGISTRY="+target.Host, "OCI_RESULTS_DIR="+results, "OCI_LOG=warn",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_USERNAME="+target.Username, "OCI_PASSWORD="+target.Password)
	if target.CACert != "" {
		// The suite does not act on OCI_TLS=insecure: trust the CA.
		env = append(env, "OCI_TLS=enabled", "SSL_CERT_FILE="+target.CACert)
	} else {
		env = append(env, "OCI_TLS=disabled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env, cmd.Dir = env, results
	out, runErr := cmd.CombinedOutput()

	b, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no report (%v): %v\n%s", runErr, err, out)
	}
	var ju junitReport
	if err := xml.Unmarshal(b, &ju); err != nil {
		t.Fatalf("conformance junit.xml: %v", err)
	}
	passed := ju.Tests - ju.Failures - ju.Errors - ju.Skipped - ju.Disabled
	t.Logf("conformance: %d tests: %d passed, %d failed, %d errors, %d skipped, %d disabled",
		ju.Tests, passed, ju.Failures, ju.Errors, ju.Skipped, ju.Disabled)
	for _, s := range ju.Suites {
		for _, c := range s.Cases {
			if c.Status != "passed" {
				t.Errorf("%s: %s\n%s", c.Status, c.Name, c.SystemOut)
			}
		}
	}
	// results.yaml says per API and data set whether it ran at all: a
	// feature the suite decided the registry lacks is "Skip" or
	// "Disabled" there, whatever the test counts say.
	var rr struct {
		APIs map[string]string `yaml:"apis"`
		Data map[string]string `yaml:"data"`
	}
	if b, err = os.ReadFile(filepath.Join(results, "results.yaml")); err == nil {
		err = yaml.Unmarshal(b, &rr)
	}
	if err != nil {
		t.Fatalf("conformance results.yaml: %v", err)
	}
	if len(rr.APIs) == 0 || len(rr.Data) == 0 {
		t.Fatalf("conformance results.yaml lists no APIs or data sets:\n%s", b)
	}
	for api, st := range rr.APIs {
		if st != "Pass" {
			t.Errorf("conformance API %q: %s", api, st)
		}
	}
	for data, st := range rr.Data {
		if st != "Pass" && !(data == "Sparse Manifests" && st == "Disabled") {
			t.Errorf("conformance data set %q: %s", data, st)
		}
	}
	if ju.Tests == 0 || passed != ju.Tests || runErr != nil {
		t.Errorf("conformance suite: %v\n%s", runErr, lastLines(string(out), 60))
	}
	return ju.Tests
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
