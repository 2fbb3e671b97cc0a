package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/rfc3339/rfc3339test"
	"github.com/vip-messages/api/internal/table"
)

func TestQueryWindow(t *testing.T) {
	day := func(s string) time.Time { tt, _ := time.Parse(time.DateOnly, s); return tt }
	cases := []struct {
		from, to     string
		from0, until time.Time
		err          error
	}{
		{"2026-06-01", "2026-06-01", day("2026-06-01"), day("2026-06-02"), nil},
		{"2026-06-01", "2026-07-01", day("2026-06-01"), day("2026-07-02"), nil},
		{"2026-06-01", "2026-07-02", time.Time{}, time.Time{}, errWindowTooLong},
		{"2026-06-01T00:00:00Z", "2026-07-01T23:59:59.999Z", day("2026-06-01"), day("2026-07-02"), nil},
		{"2026-06-01T00:00:00Z", "2026-07-02T00:00:00Z", time.Time{}, time.Time{}, errWindowTooLong},
		{"2026-06-01T10:00:00Z", "2026-06-01", day("2026-06-01").Add(10 * time.Hour), day("2026-06-02"), nil},
		{"2026-06-02T00:00:00Z", "2026-06-01", time.Time{}, time.Time{}, errWindowReversed},
		{"2026-06-01T12:00:00.0005Z", "2026-06-01T12:00:00.0009Z", day("2026-06-01").Add(12*time.Hour + 500*time.Microsecond), day("2026-06-01").Add(12*time.Hour + time.Millisecond), nil},
	}
	for _, c := range cases {
		t.Run(c.from+".."+c.to, func(t *testing.T) {
			p, err := validate(map[string]string{"workspaceId": "w", "mediumId": "m", "from": c.from, "to": c.to}, nil)
			if err != nil {
				t.Fatal(err)
			}
			q, err := p.query()
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && (!q.From.Equal(c.from0) || !q.Until.Equal(c.until)) {
				t.Fatalf("window [%s, %s), want [%s, %s)", q.From, q.Until, c.from0, c.until)
			}
		})
	}
}

type stubAccess struct{}

func (stubAccess) Check(context.Context, auth.Key, string, string) error         { return nil }
func (stubAccess) Known(context.Context, auth.Key, string, string) (error, bool) { return nil, true }

type stubStore struct{}

func (stubStore) List(_ context.Context, q messages.Query) (messages.Page, error) {
	if q.Limit < 1 || q.Limit > maxLimit || !q.From.Before(q.Until) {
		return messages.Page{}, fmt.Errorf("the handler passed a query it should have rejected: %+v", q)
	}
	return messages.Page{Messages: []table.Message{}}, nil
}

// FuzzQueryString: no query string panics the handler or ends in a 500; every
// query the handler passes on has a valid limit and a non-empty window.
func FuzzQueryString(f *testing.F) {
	for _, s := range []string{
		"workspaceId=ws&mediumId=ch&from=2026-06-01&to=2026-06-30",
		"workspaceId=ws&mediumId=ch&from=2026-06-01T00:00:00Z&to=2026-06-01T00:00:00.999%2B02:00&limit=200&before=v1.MDAwMDAwMDAwMDAwMSNh",
		"workspaceId=ws&mediumId=ch&from=2026-06-01&to=2026-06-30&before=1780000000000&label=frustrated&contentType=text",
		"limit=1&limit=2&x=&before=",
		"from=9999-12-31&to=0000-01-01&limit=-1e308",
		"workspaceId=%00&mediumId=%E2%80%8B&before=v1.%2F%2F",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		single := map[string]string{}
		for k, v := range values {
			single[k] = v[len(v)-1]
		}
		h := New(stubAccess{}, stubStore{}, nil)
		resp, _ := h.Handle(context.Background(), events.APIGatewayProxyRequest{
			HTTPMethod: "GET", Resource: "/vip-messages", Path: "/vip-messages",
			QueryStringParameters: single, MultiValueQueryStringParameters: values,
			RequestContext: events.APIGatewayProxyRequestContext{Authorizer: auth.Key{ID: "fuzz-key-01"}.AuthorizerContext()},
		})
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%q: status %d %s", raw, resp.StatusCode, resp.Body)
		}
		p, err := validate(single, values)
		if err == nil {
			_, err = p.query()
		}
		if err == nil {
			if p.limit < minLimit || p.limit > maxLimit {
				t.Fatalf("accepted limit %d", p.limit)
			}
			return
		}
		if s := classify(err).status; s != http.StatusBadRequest && s != http.StatusUnprocessableEntity {
			t.Fatalf("%q: status %d (%v)", raw, s, err)
		}
	})
}

// Every kind answers its status; the causes of a 5xx and unknown kinds never reach the body.
func TestClassify(t *testing.T) {
	viol := []clienterr.Violation{{Message: "m", Path: []string{"limit"}, Type: "number.max"}}
	tests := []struct {
		err    error
		status int
		body   string
	}{
		{clienterr.New(clienterr.BadRequest, "bad"), 400, `{"message":"bad"}`},
		{&clienterr.Error{Kind: clienterr.InvalidQuery, Violations: viol}, 422, `{"error":[{"message":"m","path":["limit"],"type":"number.max","context":null}]}`},
		{fmt.Errorf("auth: %w", &clienterr.Error{Kind: clienterr.Unauthenticated, Message: "missing x-date header", Reason: "header"}), 401, `{"message":"missing x-date header"}`},
		{clienterr.New(clienterr.Forbidden, "no"), 403, `{"message":"no"}`},
		{clienterr.New(clienterr.NotFound, "gone"), 404, `{"message":"gone"}`},
		{fmt.Errorf("messages: query: %w", clienterr.ErrUnavailable), 503, `{"message":"service temporarily unavailable, please retry"}`},
		{clienterr.New(clienterr.Internal, "table missing"), 500, `{"message":"internal error"}`},
		{clienterr.New(clienterr.Kind(99), "secret detail"), 500, `{"message":"internal error"}`},
		{errors.New("secret detail"), 500, `{"message":"internal error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			f := classify(tt.err)
			b, err := json.Marshal(f.body)
			if err != nil {
				t.Fatal(err)
			}
			if f.status != tt.status || string(b) != tt.body {
				t.Fatalf("got %d %s, want %d %s", f.status, b, tt.status, tt.body)
			}
		})
	}
}

// The strictness cases of internal/rfc3339 through the query-string path:
// as from and as to, a valid date or date-time passes the schema, anything
// else is a date.format violation. internal/auth runs the same cases as x-date.
func TestBoundStrictness(t *testing.T) {
	for _, c := range rfc3339test.Cases(t) {
		t.Run(c.Why, func(t *testing.T) {
			_, err := validate(map[string]string{"workspaceId": "w", "mediumId": "m", "from": c.Value, "to": c.Value}, nil)
			var formats []string
			if ce, ok := clienterr.As(err); ok {
				for _, v := range ce.Violations {
					if v.Type == "date.format" {
						formats = append(formats, v.Path[0])
					}
				}
			} else if err != nil {
				t.Fatalf("%q: %v", c.Value, err)
			}
			valid := c.Instant != "" || c.Date
			switch {
			case valid && err != nil:
				t.Fatalf("%q refused: %v", c.Value, err)
			case !valid && (len(formats) != 2 || formats[0] != "from" || formats[1] != "to"):
				t.Fatalf("%q: violations %v, want date.format on from and to", c.Value, err)
			}
			if c.Instant != "" {
				p, _ := validate(map[string]string{"workspaceId": "w", "mediumId": "m", "from": c.Value, "to": c.Value}, nil)
				if !p.from.t.Equal(c.Time(t)) || p.from.dateOnly {
					t.Fatalf("%q read as %v", c.Value, p.from)
				}
			}
		})
	}
}

// checkLabel is checked by hand; it must accept exactly what queryLabelPattern
// (the regex a 422 names) and the length limit accept.
func TestCheckLabelMatchesItsPattern(t *testing.T) {
	re := regexp.MustCompile(queryLabelPattern)
	for _, s := range []string{"frustrated", "a b", "日本語", "", "a#b", "a%20b", "a;b", "a\tb", "\u0085", "\xff",
		strings.Repeat("é", table.MaxLabelLen), strings.Repeat("é", table.MaxLabelLen+1)} {
		want := utf8.ValidString(s) && utf8.RuneCountInString(s) <= table.MaxLabelLen && re.MatchString(s)
		if got := checkLabel(s) == nil; got != want {
			t.Errorf("checkLabel(%q) accepts: %v, the pattern says %v", s, got, want)
		}
	}
}
