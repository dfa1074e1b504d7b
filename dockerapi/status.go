package dockerapi

import (
	"net/http"

	"github.com/berth-project/berth/engine"
)

// This file is the one place where engine error kinds and HTTP statuses
// meet: the handler answers an error with statusOf(kind), the client turns
// a status back into its kind.

// statusOf is the HTTP status of an error of kind k.
func statusOf(k engine.Kind) int {
	switch k {
	case engine.KindNotFound:
		return http.StatusNotFound
	case engine.KindConflict:
		return http.StatusConflict
	case engine.KindInvalid:
		return http.StatusBadRequest
	case engine.KindNotModified:
		return http.StatusNotModified
	case engine.KindUnauthorized:
		return http.StatusUnauthorized
	case engine.KindForbidden:
		return http.StatusForbidden
	case engine.KindUnavailable:
		return http.StatusServiceUnavailable
	case engine.KindNotImplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// kindOfStatus is the error kind of an HTTP error status.
func kindOfStatus(code int) engine.Kind {
	switch code {
	case http.StatusNotFound:
		return engine.KindNotFound
	case http.StatusConflict:
		return engine.KindConflict
	case http.StatusBadRequest:
		return engine.KindInvalid
	case http.StatusNotModified:
		return engine.KindNotModified
	case http.StatusUnauthorized:
		return engine.KindUnauthorized
	case http.StatusForbidden:
		return engine.KindForbidden
	case http.StatusServiceUnavailable:
		return engine.KindUnavailable
	case http.StatusNotImplemented:
		return engine.KindNotImplemented
	}
	return engine.KindUnknown
}
