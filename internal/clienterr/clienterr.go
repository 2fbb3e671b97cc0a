// Package clienterr is the API's one vocabulary of failures a client may be told
// about: a Kind that the API maps to a status, and the text the client reads.
// Domain packages return (or wrap) an *Error; an error with none in its chain is
// a bug, which the client sees only as an internal error. Outage tells a
// dependency outage (503) from such a bug (500).
package clienterr

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, as far as a client may know.
type Kind int

// The zero Kind is Internal, so a forgotten Kind never shows its Message.
const (
	Internal        Kind = iota // a bug; the client reads a fixed text
	BadRequest                  // a request that passed the schema but means nothing (400)
	InvalidQuery                // query-string schema violations, listed in Violations (422)
	Unauthenticated             // a missing, malformed or wrong signature (401)
	Forbidden                   // the key may not read what it asks for (403)
	NotFound                    // what the request names does not exist (404)
	Unavailable                 // a dependency outage: retry later; the client reads a fixed text
)

var kindNames = [...]string{"internal", "bad request", "invalid query", "unauthenticated", "forbidden", "not found", "unavailable"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Error is a failure whose Message is safe to show the client. For Internal and
// Unavailable the cause is not the client's to know: the API answers a fixed
// text, and Message only reaches the log.
type Error struct {
	Kind    Kind
	Message string
	// Reason is a short fixed label of the cause for logs and metrics, kept
	// apart from Message because Message may quote the request and must not
	// become a metric dimension. Empty when Message says it all.
	Reason string
	// Violations are the details of an InvalidQuery error, in the order found.
	Violations []Violation
}

// New returns an *Error of kind k with the client message msg.
func New(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

func (e *Error) Error() string {
	if len(e.Violations) > 0 {
		return fmt.Sprintf("%d query-string violations, first: %s", len(e.Violations), e.Violations[0].Message)
	}
	return e.Message
}

// Is reports whether target is an *Error a client cannot tell from e (same Kind
// and Message), so that errors carrying different Reasons still match a
// package's sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == e.Message && len(t.Violations) == 0 && len(e.Violations) == 0
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf is the Kind of the *Error in err's chain; Internal when there is none.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// Violation is one query-string schema violation, in the shape Joi reports it.
type Violation struct {
	Message string         `json:"message"`
	Path    []string       `json:"path"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context"`
}
