package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-project/berth/content"
)

// Sentinel errors. ErrNotFound and ErrInvalid are content's, so that one
// mapping of sentinels to HTTP codes covers a store and a registry.
var (
	ErrNotFound = content.ErrNotFound
	ErrInvalid  = content.ErrInvalid
	// ErrDenied: the registry refused access (401 or 403), with or
	// without credentials.
	ErrDenied = errors.New("access denied")
	// ErrUnsupported: the registry sent something berth does not handle
	// (a schema 1 manifest, an unknown media type).
	ErrUnsupported = errors.New("unsupported")
)

// ErrorResponse is an error status from a registry with the errors of its
// JSON body. It unwraps to ErrNotFound for 404 and ErrDenied for 401 and 403.
type ErrorResponse struct {
	StatusCode int
	Errors     []ErrorEntry
}

// ErrorEntry is one entry of the "errors" list of a registry's error body.
type ErrorEntry struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Error reads as docker's: "manifest unknown: manifest unknown".
func (e *ErrorResponse) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("%d %s", e.StatusCode, strings.ToLower(http.StatusText(e.StatusCode)))
	}
	var parts []string
	for _, x := range e.Errors {
		code := strings.ToLower(strings.ReplaceAll(x.Code, "_", " "))
		switch {
		case code == "":
			parts = append(parts, x.Message)
		case x.Message == "":
			parts = append(parts, code)
		default:
			parts = append(parts, code+": "+x.Message)
		}
	}
	return strings.Join(parts, "; ")
}

func (e *ErrorResponse) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrDenied
	}
	return nil
}

// hasCode reports whether the registry gave the error code.
func (e *ErrorResponse) hasCode(code string) bool {
	for _, x := range e.Errors {
		if x.Code == code {
			return true
		}
	}
	return false
}

// readError consumes an error response into an ErrorResponse.
func readError(resp *http.Response) *ErrorResponse {
	defer resp.Body.Close()
	e := &ErrorResponse{StatusCode: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Errors []ErrorEntry `json:"errors"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Errors = body.Errors
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "<>") {
		// Some proxies answer in plain text; HTML pages say nothing useful.
		e.Errors = []ErrorEntry{{Message: s}}
	}
	return e
}

// deniedError is docker's message for a pull the registry refused.
func deniedError(host, repo string, cause error) error {
	return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %w", familiarName(host, repo), cause)
}

// responseError turns an error response of an operation on repo into the
// error a user reads; what names the object ("manifest for NAME:TAG",
// "blob sha256:...").
func responseError(resp *http.Response, host, repo, what string) error {
	e := readError(resp)
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return deniedError(host, repo, e)
	case e.StatusCode == http.StatusNotFound && e.hasCode("NAME_UNKNOWN"):
		return fmt.Errorf("repository %s not found: %w", familiarName(host, repo), e)
	case e.StatusCode == http.StatusNotFound:
		if len(e.Errors) == 0 {
			e.Errors = []ErrorEntry{{Code: "NOT_FOUND"}}
		}
		return fmt.Errorf("%s not found: %w", what, e)
	}
	// Not the query: a redirect to storage puts signatures there.
	u := *resp.Request.URL
	u.RawQuery = ""
	return fmt.Errorf("%s: %s %s answered: %w", what, resp.Request.Method, u.Redacted(), e)
}
