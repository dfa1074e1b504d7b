package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/imagetest"
)

// searchJSON is what berth's registry answers, docker's v1 search JSON.
const searchJSON = `{"num_results":2,"num_pages":1,"page":1,"page_size":2,"query":"busy",` +
	`"results":[{"name":"library/busybox","description":"tiny","star_count":3,"is_official":true,"is_automated":false,"tag_count":4},` +
	`{"name":"team/busybox","description":"","star_count":0,"is_official":false,"is_automated":false,"tag_count":1}]}`

// serveSearch answers /v1/search on f, behind f's auth when bearer is set:
// a token must grant registry:catalog:*.
func serveSearch(f *fakeRegistry, bearer bool) {
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/search" {
			return false
		}
		if bearer {
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			granted, _ := base64.RawURLEncoding.DecodeString(tok)
			if !strings.Contains(string(granted)+" ", " registry:catalog:* ") {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="fake",scope="registry:catalog:*"`, f.tokenSrv.URL))
				writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
				return true
			}
		}
		if r.URL.Query().Get("q") != "busy" || r.URL.Query().Get("n") != "2" {
			writeError(w, http.StatusBadRequest, "BAD", "want q=busy&n=2, got "+r.URL.RawQuery)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(searchJSON))
		return true
	}
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	for _, bearer := range []bool{false, true} {
		t.Run(fmt.Sprint("bearer=", bearer), func(t *testing.T) {
			f := newFakeRegistry(t)
			serveSearch(f, bearer)
			res, err := Search(ctx, NewClient(noConfig(t)), f.host(), "busy", 2)
			if err != nil {
				t.Fatal(err)
			}
			if res.NumResults != 2 || res.Query != "busy" || len(res.Results) != 2 {
				t.Fatalf("result %+v", res)
			}
			want := SearchEntry{Name: "library/busybox", Description: "tiny", StarCount: 3, IsOfficial: true, TagCount: 4}
			if res.Results[0] != want {
				t.Errorf("first result %+v, want %+v", res.Results[0], want)
			}
			if bearer {
				toks := f.tokenLog()
				if len(toks) != 1 || toks[0].Query.Get("scope") != "registry:catalog:*" {
					t.Errorf("token requests %+v", toks)
				}
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request) bool
		want string
		is   error
	}{
		{"refused", func(w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}, `search HOST for "busy": unauthorized: authentication required`, ErrDenied},
		{"forbidden", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusForbidden)
			return true
		}, `search HOST for "busy": denied: requested access to the resource is denied`, ErrDenied},
		{"not json", func(w http.ResponseWriter, r *http.Request) bool {
			w.Write([]byte("<html>hello</html>"))
			return true
		}, `search HOST for "busy": the answer is not search results`, ErrInvalid},
		{"server error", func(w http.ResponseWriter, r *http.Request) bool {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "boom")
			return true
		}, "answered: unknown: boom", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRegistry(t)
			f.hook = tc.hook
			_, err := Search(ctx, NewClient(noConfig(t)), f.host(), "busy", 2)
			want := strings.ReplaceAll(tc.want, "HOST", f.host())
			if err == nil || !strings.Contains(err.Error(), want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("err = %v\nwant %q", err, want)
			}
		})
	}
}

// docker-registry has no /v1/search: its 404 says so plainly.
func TestIntegrationSearchUnsupported(t *testing.T) {
	r := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	_, err := Search(context.Background(), NewClient(noConfig(t)), r.Host, "busybox", 10)
	want := `search ` + r.Host + ` for "busybox": registry ` + r.Host + ` does not support search`
	if !errors.Is(err, ErrUnsupported) || err.Error() != want+": unsupported" {
		t.Errorf("err = %v\nwant %q", err, want)
	}
}
