package api

import (
	"errors"
	"net/http"

	"github.com/vip-messages/api/internal/access"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/outage"
)

// badRequest is a semantically wrong request (a 400); its text is the client message.
type badRequest string

func (e badRequest) Error() string { return string(e) }

var (
	errWindowReversed = badRequest(`"from" must not be after "to"`)
	errWindowTooLong  = badRequest(`the window from "from" to "to" must not be longer than 31 days`)
)

// Client messages of the statuses whose cause is not the client's to know.
const (
	msgInternal    = "internal error"
	msgUnavailable = "service temporarily unavailable, please retry"
	msgBadCursor   = `"before" is not a nextCursor of this API nor an epoch-ms timestamp`
)

// retryAfterSeconds is the Retry-After of a 503: DynamoDB throttling and Secrets
// Manager hiccups pass within seconds.
const retryAfterSeconds = "1"

// failure is an error's answer: the one place that maps domain errors to HTTP.
type failure struct {
	status int
	body   any
	// internal is logged, never sent.
	internal bool
}

type messageBody struct {
	Message string `json:"message"`
}

type violationsBody struct {
	Error []Violation `json:"error"`
}

func classify(err error) failure {
	var verr *ValidationError
	var bad badRequest
	switch {
	case errors.As(err, &verr):
		return failure{status: http.StatusUnprocessableEntity, body: violationsBody{Error: verr.Violations}}
	case errors.As(err, &bad):
		return failure{status: http.StatusBadRequest, body: messageBody{string(bad)}}
	case errors.Is(err, messages.ErrInvalidCursor):
		return failure{status: http.StatusBadRequest, body: messageBody{msgBadCursor}}
	case errors.Is(err, auth.ErrUnavailable), errors.Is(err, access.ErrUnavailable), errors.Is(err, outage.ErrUnavailable):
		return failure{status: http.StatusServiceUnavailable, body: messageBody{msgUnavailable}, internal: true}
	case errors.Is(err, auth.ErrUnauthenticated):
		return failure{status: http.StatusUnauthorized, body: messageBody{auth.ClientMessage(err)}}
	case errors.Is(err, access.ErrKeyNotAllowed), errors.Is(err, access.ErrNotVIP):
		return failure{status: http.StatusForbidden, body: messageBody{sentinelText(err, access.ErrKeyNotAllowed, access.ErrNotVIP)}}
	case errors.Is(err, access.ErrWorkspaceNotFound), errors.Is(err, access.ErrChannelNotFound):
		return failure{status: http.StatusNotFound, body: messageBody{sentinelText(err, access.ErrWorkspaceNotFound, access.ErrChannelNotFound)}}
	}
	return failure{status: http.StatusInternalServerError, body: messageBody{msgInternal}, internal: true}
}

// sentinelText is the text of the sentinel err wraps, never of what wraps it.
func sentinelText(err error, sentinels ...error) string {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return msgInternal
}
