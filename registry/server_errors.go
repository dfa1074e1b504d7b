package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// The error codes of the distribution spec, as the server sends them.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	// codeUnknown is for the server's own failures (5xx), as
	// docker-registry sends them; the spec's list covers 4xx answers.
	codeUnknown = "UNKNOWN"
)

// codeStatus is the one place error codes become HTTP statuses. An
// apiError may override the status where the spec asks for another one
// (413 for a blob or manifest over the limit, 416 for a chunk out of
// order, 404 for a path that is no endpoint).
var codeStatus = map[string]int{
	codeBlobUnknown:         http.StatusNotFound,
	codeBlobUploadInvalid:   http.StatusBadRequest,
	codeBlobUploadUnknown:   http.StatusNotFound,
	codeDigestInvalid:       http.StatusBadRequest,
	codeManifestBlobUnknown: http.StatusBadRequest,
	codeManifestInvalid:     http.StatusBadRequest,
	codeManifestUnknown:     http.StatusNotFound,
	codeNameInvalid:         http.StatusBadRequest,
	codeNameUnknown:         http.StatusNotFound,
	codeSizeInvalid:         http.StatusBadRequest,
	codeUnauthorized:        http.StatusUnauthorized,
	codeDenied:              http.StatusForbidden,
	codeUnsupported:         http.StatusMethodNotAllowed,
	codeTooManyRequests:     http.StatusTooManyRequests,
	codeUnknown:             http.StatusInternalServerError,
}

// apiError is an error the server answers with: a code of the spec, a
// message, an optional detail and, rarely, a status other than the code's.
type apiError struct {
	code    string
	message string
	detail  any
	status  int // 0: codeStatus[code]
	header  http.Header
}

func apiErrorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, args...)}
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (e *apiError) withDetail(d any) *apiError { e.detail = d; return e }

func (e *apiError) withStatus(status int) *apiError { e.status = status; return e }

// withHeader adds a response header that goes with the error (the Range
// of an upload that refused a chunk).
func (e *apiError) withHeader(key, value string) *apiError {
	if e.header == nil {
		e.header = http.Header{}
	}
	e.header.Set(key, value)
	return e
}

func (e *apiError) httpStatus() int {
	if e.status != 0 {
		return e.status
	}
	if st, ok := codeStatus[e.code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// authError turns an Authorizer's refusal into the answer: a *Challenge is
// 401 UNAUTHORIZED with its WWW-Authenticate header, anything else 403
// DENIED with the error's text.
func authError(err error) *apiError {
	var ch *Challenge
	if errors.As(err, &ch) {
		e := apiErrorf(codeUnauthorized, "%s", ch.Error())
		if ch.Header != "" {
			e = e.withHeader("WWW-Authenticate", ch.Header)
		}
		return e
	}
	return apiErrorf(codeDenied, "%s", err.Error())
}

// errorBody is the spec's JSON error document.
type errorBody struct {
	Errors []errorBodyEntry `json:"errors"`
}

type errorBodyEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// fail answers r with err. Errors that are not an *apiError are the
// server's own failures: they are logged and answered 500 UNKNOWN without
// their text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		s.cfg.logf("registry: %s %s: %v", r.Method, r.URL.Path, err)
		e = apiErrorf(codeUnknown, "internal server error")
	}
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeJSON(w, r, e.httpStatus(), "application/json", errorBody{Errors: []errorBodyEntry{{Code: e.code, Message: e.message, Detail: e.detail}}})
}

// writeJSON answers with v as JSON (no body for HEAD).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"errors":[{"code":"UNKNOWN","message":"encode response"}]}`)
		status = http.StatusInternalServerError
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
