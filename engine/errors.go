package engine

import (
	"errors"
	"fmt"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/registry"
)

// Kind classifies an engine error; dockerapi maps each kind to one HTTP
// status (and the Client maps the status back), so a caller sees the same
// kind in-process and over the socket.
type Kind int

const (
	KindUnknown        Kind = iota // 500
	KindNotFound                   // 404
	KindConflict                   // 409
	KindInvalid                    // 400
	KindNotModified                // 304
	KindUnauthorized               // 401
	KindForbidden                  // 403
	KindUnavailable                // 503
	KindNotImplemented             // 501
)

// Sentinels for errors.Is: errors.Is(err, ErrNotFound) holds for any
// *Error of KindNotFound (and for image.ErrNotFound, ErrNoSuchContainer).
var (
	ErrNotFound       = &Error{Kind: KindNotFound, Msg: "not found"}
	ErrConflict       = &Error{Kind: KindConflict, Msg: "conflict"}
	ErrInvalid        = &Error{Kind: KindInvalid, Msg: "invalid argument"}
	ErrNotModified    = &Error{Kind: KindNotModified, Msg: "not modified"}
	ErrUnauthorized   = &Error{Kind: KindUnauthorized, Msg: "unauthorized"}
	ErrForbidden      = &Error{Kind: KindForbidden, Msg: "forbidden"}
	ErrUnavailable    = &Error{Kind: KindUnavailable, Msg: "unavailable"}
	ErrNotImplemented = &Error{Kind: KindNotImplemented, Msg: "not implemented"}
)

// Error is an engine error whose text is what docker says, word for word
// ("No such container: web"), and whose Kind picks the HTTP status.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, if any (not part of the message)
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == kindSentinelMsg(t.Kind) && t.Kind == e.Kind
}

func kindSentinelMsg(k Kind) string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindInvalid:
		return "invalid argument"
	case KindNotModified:
		return "not modified"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "unavailable"
	case KindNotImplemented:
		return "not implemented"
	}
	return ""
}

// Errorf makes an *Error of kind k with docker's message.
func Errorf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// NotFound, Conflict, Invalid, ... are Errorf of that kind.
func NotFound(format string, args ...any) error { return Errorf(KindNotFound, format, args...) }
func Conflict(format string, args ...any) error { return Errorf(KindConflict, format, args...) }
func Invalid(format string, args ...any) error  { return Errorf(KindInvalid, format, args...) }
func Forbidden(format string, args ...any) error {
	return Errorf(KindForbidden, format, args...)
}

// KindOf returns the kind of err: that of the first *Error in its chain,
// else NotFound for the image and container sentinels of lower packages,
// else KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	switch {
	case errors.Is(err, ErrNoSuchContainer), errors.Is(err, image.ErrNotFound):
		return KindNotFound
	case errors.Is(err, registry.ErrInvalid):
		return KindInvalid
	}
	return KindUnknown
}
