package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels that an *APIError matches under errors.Is, by status.
var (
	ErrBadRequest      = errors.New("vip-messages: bad request")              // 400: window reversed or too long, bad cursor
	ErrUnauthorized    = errors.New("vip-messages: unauthorized")             // 401: authentication failed
	ErrForbidden       = errors.New("vip-messages: forbidden")                // 403: key not allowed for the workspace, or workspace not VIP
	ErrNotFound        = errors.New("vip-messages: not found")                // 404: workspace unknown, channel unknown or not connected
	ErrInvalidQuery    = errors.New("vip-messages: invalid query")            // 422: query-string schema violations (see APIError.Violations)
	ErrTooManyRequests = errors.New("vip-messages: too many requests")        // 429: API Gateway throttling
	ErrUnavailable     = errors.New("vip-messages: service unavailable")      // 503: retry later (see APIError.RetryAfter)
	ErrServer          = errors.New("vip-messages: server error")             // any other 5xx
	errOther           = errors.New("vip-messages: unexpected answer status") // anything else
)

// Violation is one query-string schema violation of a 422 (Joi-style).
type Violation struct {
	Message string         `json:"message"`
	Path    []string       `json:"path"`
	Type    string         `json:"type"` // e.g. "number.max", "any.required"
	Context map[string]any `json:"context"`
}

// APIError is an answer other than 200. Its Message is the API's "message"
// (or, for a 422, the violations' messages joined).
type APIError struct {
	Status     int
	Message    string
	Violations []Violation // 422 only
	// RetryAfter is the answer's Retry-After (503, 429), 0 when absent.
	RetryAfter time.Duration
	// RequestID is the X-Request-Id header, for support.
	RequestID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("vip-messages: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Is matches the sentinel of e's status.
func (e *APIError) Is(target error) bool { return target == sentinel(e.Status) }

// Temporary reports whether the same request may succeed later (503, 429).
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
}

func sentinel(status int) error {
	switch status {
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnprocessableEntity:
		return ErrInvalidQuery
	case http.StatusTooManyRequests:
		return ErrTooManyRequests
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	if status >= 500 {
		return ErrServer
	}
	return errOther
}

// decodeError reads an error answer: {"message"} or {"error": [violations]}.
// A body in neither shape keeps the status, with a short excerpt as message.
func decodeError(resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		RequestID:  resp.Header.Get("X-Request-Id"),
	}
	var b struct {
		Message    *string     `json:"message"`
		Violations []Violation `json:"error"`
	}
	switch err := json.Unmarshal(body, &b); {
	case err == nil && len(b.Violations) > 0:
		e.Violations = b.Violations
		msgs := make([]string, len(b.Violations))
		for i, v := range b.Violations {
			msgs[i] = v.Message
		}
		e.Message = strings.Join(msgs, "; ")
	case err == nil && b.Message != nil:
		e.Message = *b.Message
	default:
		e.Message = excerpt(body)
	}
	return e
}

func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return "(empty body)"
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "…"
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		// Far-off answers stay far off (and so are not waited for), without overflow.
		return time.Duration(min(n, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
