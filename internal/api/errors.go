package api

import (
	"net/http"

	"github.com/vip-messages/api/internal/clienterr"
)

var (
	errWindowReversed = clienterr.New(clienterr.BadRequest, `"from" must not be after "to"`)
	errWindowTooLong  = clienterr.New(clienterr.BadRequest, `the window from "from" to "to" must not be longer than 31 days`)
)

// Client messages of the statuses whose cause is not the client's to know.
const (
	msgInternal    = "internal error"
	msgUnavailable = "service temporarily unavailable, please retry"
)

// retryAfterSeconds is the Retry-After of a 503: DynamoDB throttling and Secrets
// Manager hiccups pass within seconds.
const retryAfterSeconds = "1"

// statuses is the one place that maps a clienterr.Kind to HTTP. fixed, when
// set, replaces the error's Message: the cause of a 5xx stays in the log.
var statuses = map[clienterr.Kind]struct {
	status int
	fixed  string
}{
	clienterr.BadRequest:      {status: http.StatusBadRequest},
	clienterr.InvalidQuery:    {status: http.StatusUnprocessableEntity},
	clienterr.Unauthenticated: {status: http.StatusUnauthorized},
	clienterr.Forbidden:       {status: http.StatusForbidden},
	clienterr.NotFound:        {status: http.StatusNotFound},
	clienterr.Unavailable:     {status: http.StatusServiceUnavailable, fixed: msgUnavailable},
	clienterr.Internal:        {status: http.StatusInternalServerError, fixed: msgInternal},
}

// failure is an error's answer.
type failure struct {
	status int
	body   any
}

type messageBody struct {
	Message string `json:"message"`
}

type violationsBody struct {
	Error []clienterr.Violation `json:"error"`
}

// classify answers err by the Kind of the *clienterr.Error it wraps; an error
// without one is a bug: a 500.
func classify(err error) failure {
	e, ok := clienterr.As(err)
	if !ok {
		e = &clienterr.Error{Kind: clienterr.Internal}
	}
	s, ok := statuses[e.Kind]
	if !ok {
		s = statuses[clienterr.Internal]
	}
	switch {
	case s.fixed != "":
		return failure{status: s.status, body: messageBody{s.fixed}}
	case e.Kind == clienterr.InvalidQuery:
		return failure{status: s.status, body: violationsBody{Error: e.Violations}}
	}
	return failure{status: s.status, body: messageBody{e.Message}}
}
