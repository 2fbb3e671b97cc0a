package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/rfc3339/rfc3339test"
)

// The strictness cases of internal/rfc3339 through the auth path: a valid
// date-time, signed and fresh, authenticates; anything else is a malformed
// x-date, before any key lookup. internal/api runs the same cases as from/to.
func TestXDateStrictness(t *testing.T) {
	e := newEnv(t)
	seed(e)
	for _, c := range rfc3339test.Cases(t) {
		t.Run(c.Why, func(t *testing.T) {
			if c.Instant != "" {
				e.clock.Advance(c.Time(t).Sub(e.clock.Now())) // the server's now is the x-date
			}
			before := e.getCalls()
			h := map[string]string{"x-api-key": goodKey, "x-date": c.Value, "x-signature": auth.Sign(current, c.Value)}
			key, err := e.v.Authenticate(context.Background(), "GET", "/vip-messages", h, nil, nil)
			if c.Instant != "" {
				if err != nil || key.ID != goodKey {
					t.Fatalf("x-date %q: %v, want it accepted", c.Value, err)
				}
				return
			}
			ce, ok := clienterr.As(err)
			if !ok || ce.Kind != clienterr.Unauthenticated || (!strings.HasPrefix(ce.Message, "malformed x-date header") && !strings.HasPrefix(ce.Message, "empty x-date header")) {
				t.Fatalf("x-date %q: %v, want a malformed x-date", c.Value, err)
			}
			if n := e.getCalls() - before; n != 0 {
				t.Fatalf("x-date %q: %d key lookups for a malformed request", c.Value, n)
			}
		})
	}
}

// Any x-date that parses, however far away, gets a true message: a
// duration near the window, whole days beyond (a Duration overflows past
// 292 years, and once read "-2562047h… ahead").
func TestXDateFarAway(t *testing.T) {
	e := newEnv(t)
	seed(e)
	e.clock.Advance(start.Sub(e.clock.Now()))
	const now = "server time 2026-06-01T12:00:00Z"
	cases := []struct{ date, msg string }{
		{"9999-12-31T23:59:59Z", "x-date header is in the future: it is 2912291 days ahead of " + now + "; at most 5s is allowed"},
		{"0001-01-01T00:00:00Z", "stale x-date header: it is 739767 days older than " + now + "; at most 1m0s is allowed"},
		{"1970-01-01T00:00:00Z", "stale x-date header: it is 20605 days older than " + now + "; at most 1m0s is allowed"},
		{"2026-06-01T12:00:06Z", "x-date header is in the future: it is 6s ahead of " + now + "; at most 5s is allowed"},
		{"2026-06-02T12:00:00Z", "x-date header is in the future: it is 24h0m0s ahead of " + now + "; at most 5s is allowed"},
		{"2026-05-30T12:00:00Z", "stale x-date header: it is 2 days older than " + now + "; at most 1m0s is allowed"},
		{"2026-06-01T11:58:59Z", "stale x-date header: it is 1m1s older than " + now + "; at most 1m0s is allowed"},
		{"2026-06-01T12:00:00+23:59", "stale x-date header: it is 23h59m0s older than " + now + "; at most 1m0s is allowed"},
		{"2026-06-01T12:00:00-23:59", "x-date header is in the future: it is 23h59m0s ahead of " + now + "; at most 5s is allowed"},
	}
	for _, c := range cases {
		h := map[string]string{"x-api-key": goodKey, "x-date": c.date, "x-signature": auth.Sign(current, c.date)}
		_, err := e.v.Authenticate(context.Background(), "GET", "/vip-messages", h, nil, nil)
		if ce, ok := clienterr.As(err); !ok || ce.Message != c.msg {
			t.Errorf("x-date %s: %v\nwant %s", c.date, err, c.msg)
		}
	}
	// Every year RFC 3339 can write: a positive amount, in days, shrinking up
	// to the server's year and growing after it.
	prev := 0
	for y := 0; y <= 9999; y += 7 {
		d := fmt.Sprintf("%04d-01-01T00:00:00Z", y)
		_, err := e.v.Authenticate(context.Background(), "GET", "/vip-messages", map[string]string{"x-api-key": goodKey, "x-date": d, "x-signature": auth.Sign(current, d)}, nil, nil)
		ce, _ := clienterr.As(err)
		if ce == nil {
			t.Fatalf("%s accepted", d)
		}
		var n int
		if _, err := fmt.Sscanf(ce.Message[strings.Index(ce.Message, "it is ")+len("it is "):], "%d days", &n); err != nil || n < 2 {
			t.Fatalf("%s: %q", d, ce.Message)
		}
		if y > 0 && y < 2026 && n >= prev || y > 2033 && n <= prev {
			t.Fatalf("%s: %d days, after %d for 7 years earlier", d, n, prev)
		}
		prev = n
	}
}
