package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/signature"
)

func TestSignMatchesServer(t *testing.T) {
	for _, tc := range []struct{ secret, date string }{
		{"demo-secret-please-change", "2026-06-01T12:00:00Z"},
		{"s", "2026-06-01T12:00:00.123+02:00"},
		{"ünïcødé", ""},
	} {
		if got, want := client.Sign(tc.secret, tc.date), auth.Sign(tc.secret, tc.date); got != want {
			t.Errorf("Sign(%q, %q) = %s, auth.Sign = %s", tc.secret, tc.date, got, want)
		}
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	h := client.SignedHeaders("key-0001", "s3cret", now)
	if got := h.Get("x-date"); got != "2026-06-01T11:00:00Z" {
		t.Errorf("x-date = %q", got)
	}
	if h.Get("x-api-key") != "key-0001" || h.Get("x-signature") != auth.Sign("s3cret", "2026-06-01T11:00:00Z") {
		t.Errorf("headers = %v", h)
	}
}

// The client signs v2 by default, over exactly the query it sends as the
// server decodes it (a '+' in a value goes out as %2B; API Gateway would read a
// bare '+' as a space), and v1 when asked.
func TestSignsTheQueryItSends(t *testing.T) {
	q := client.Query{WorkspaceID: "ws-demo", MediumID: "ch-demo", From: "2026-05-01T00:00:00+02:00", To: "2026-05-31",
		Label: "cl churné & 100% + more", Limit: 5, Before: "a b"}
	for _, tc := range []struct {
		name    string
		version int
		want    func(r *http.Request) string
	}{
		{"default is v2", 0, func(r *http.Request) string {
			return signature.SignV2("s3cret", r.Header.Get("x-date"), r.URL.Query())
		}},
		{"v2", client.SignatureV2, func(r *http.Request) string {
			return signature.SignV2("s3cret", r.Header.Get("x-date"), r.URL.Query())
		}},
		{"v1 fallback", client.SignatureV1, func(r *http.Request) string { return auth.Sign("s3cret", r.Header.Get("x-date")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want, rawQuery string
			var query map[string][]string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, want, rawQuery, query = r.Header.Get("x-signature"), tc.want(r), r.URL.RawQuery, r.URL.Query()
				_, _ = w.Write([]byte(`{"items":[],"returned":0,"mayHaveMore":false}`))
			}))
			defer srv.Close()
			c := client.New(srv.URL, "key-0001", "s3cret")
			c.SignatureVersion = tc.version
			if _, err := c.List(context.Background(), q); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("x-signature = %q, want %q", got, want)
			}
			if strings.Contains(rawQuery, "+02") || query["from"][0] != q.From || query["label"][0] != q.Label {
				t.Errorf("query sent as %q decodes to %q", rawQuery, query)
			}
		})
	}
	c := client.New("http://127.0.0.1:1", "key-0001", "s3cret")
	c.SignatureVersion = 3
	if _, err := c.List(context.Background(), q); err == nil || !strings.Contains(err.Error(), "SignatureVersion 3") {
		t.Fatalf("SignatureVersion 3: err = %v", err)
	}
}

func TestSignV2Helpers(t *testing.T) {
	q := url.Values{"workspaceId": {"ws-demo"}, "mediumId": {"ch-demo"}, "from": {"2026-05-01"}, "to": {"2026-05-31"}, "limit": {"5"}}
	if got := client.CanonicalQuery(q); got != "from=2026-05-01&limit=5&mediumId=ch-demo&to=2026-05-31&workspaceId=ws-demo" {
		t.Errorf("CanonicalQuery = %q", got)
	}
	if got, want := client.SignV2("demo-secret-please-change", "2026-06-01T12:00:00Z", q), "v2=feed1fe20c8aa0b1a98ea1d9c8b6cca97b91c91b8450cc6998929232a064386e"; got != want {
		t.Errorf("SignV2 = %s, want the documented %s", got, want)
	}
	h := client.SignedHeadersV2("key-0001", "s3cret", time.Date(2026, 6, 1, 14, 0, 0, 0, time.FixedZone("x", 7200)), q)
	if h.Get("x-date") != "2026-06-01T12:00:00Z" || h.Get("x-signature") != client.SignV2("s3cret", "2026-06-01T12:00:00Z", q) || h.Get("x-api-key") != "key-0001" {
		t.Errorf("SignedHeadersV2 = %v", h)
	}
}

// itemKey identifies a message by everything the API returns of it.
func itemKey(ts int64, conv, user, kind, source, text string, labels, custom []string) string {
	return fmt.Sprintf("%d|%s|%s|%s|%s|%q|%q|%q", ts, conv, user, kind, source, text, labels, custom)
}

// expected is the multiset of the fixture's messages in [from, to] (epoch
// ms, both inclusive) that match label and contentType.
func expected(from, to int64, label, contentType string) map[string]int {
	out := map[string]int{}
	for _, m := range fixtureMessages() {
		if m.Timestamp < from || m.Timestamp > to {
			continue
		}
		if label != "" && !slices.Contains(m.Labels, label) && !slices.Contains(m.CustomLabelIDs, label) {
			continue
		}
		if contentType != "" && m.Kind != contentType {
			continue
		}
		out[itemKey(m.Timestamp, m.ConversationID, m.UserName, m.Kind, m.Source, m.Text, nonNil(m.Labels), nonNil(m.CustomLabelIDs))]++
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestAllWalksTheSeededSet(t *testing.T) {
	url := newAPI(t, &keySource{})
	to := now.Add(-time.Hour)
	from := to.Add(-12 * 24 * time.Hour)
	for _, tc := range []struct {
		name               string
		label, contentType string
		limit              int
	}{
		{name: "everything", limit: 37},
		{name: "builtin label", label: "frustrated", limit: 7},
		{name: "custom label", label: "cl-billing", limit: 11},
		{name: "content type", contentType: "postback", limit: 5},
		{name: "default limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := expected(from.UnixMilli(), to.UnixMilli(), tc.label, tc.contentType)
			c := client.New(url, keyID, secret)
			q := client.Query{
				WorkspaceID: ws, MediumID: ch,
				From: from.Format(time.RFC3339Nano), To: to.Format(time.RFC3339Nano),
				Label: tc.label, ContentType: tc.contentType, Limit: tc.limit,
			}
			got := map[string]int{}
			n, pages := 0, 0
			last := int64(1 << 62)
			for page, err := range c.Pages(context.Background(), q) {
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if page.Returned != len(page.Items) || page.MayHaveMore != (page.NextCursor != "") {
					t.Fatalf("page %d: returned %d, %d items, mayHaveMore %v, cursor %q", pages, page.Returned, len(page.Items), page.MayHaveMore, page.NextCursor)
				}
				for _, it := range page.Items {
					if it.Timestamp > last {
						t.Fatalf("not newest first: %d after %d", it.Timestamp, last)
					}
					last = it.Timestamp
					if it.Time().Format("2006-01-02T15:04:05.000Z07:00") != it.Date {
						t.Errorf("date %q for timestamp %d", it.Date, it.Timestamp)
					}
					got[itemKey(it.Timestamp, it.ConversationID, it.UserName, it.Kind, it.Source, it.Text, it.Labels, it.CustomLabelIDs)]++
					n++
				}
			}
			if len(want) == 0 || n < 10 {
				t.Fatalf("test data too thin: %d expected keys, %d items", len(want), n)
			}
			if !mapsEqual(got, want) {
				t.Errorf("walk of %d items in %d pages differs from the %d seeded ones:\n%s", n, pages, sum(want), diff(got, want))
			}
			if tc.limit > 0 && pages < 2 {
				t.Errorf("only %d page(s): the walk did not page", pages)
			}

			// All yields the same items.
			m := 0
			for _, err := range c.All(context.Background(), q) {
				if err != nil {
					t.Fatal(err)
				}
				m++
			}
			if m != n {
				t.Errorf("All yielded %d items, Pages %d", m, n)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

func diff(got, want map[string]int) string {
	var b strings.Builder
	lines := 0
	for k, v := range want {
		if got[k] != v && lines < 10 {
			fmt.Fprintf(&b, "  want %d× got %d× %s\n", v, got[k], k)
			lines++
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && lines < 20 {
			fmt.Fprintf(&b, "  unexpected %d× %s\n", v, k)
			lines++
		}
	}
	return b.String()
}

func TestErrorsFromTheRealHandler(t *testing.T) {
	url := newAPI(t, &keySource{})
	to := now.Format(time.DateOnly)
	from := now.AddDate(0, 0, -3).Format(time.DateOnly)
	ok := client.Query{WorkspaceID: ws, MediumID: ch, From: from, To: to}
	with := func(f func(*client.Query)) client.Query { q := ok; f(&q); return q }
	for _, tc := range []struct {
		name       string
		secret     string
		q          client.Query
		want       error
		status     int
		message    string   // substring
		violations []string // types, in order
	}{
		{name: "400 reversed window", q: with(func(q *client.Query) { q.From, q.To = to, from }), want: client.ErrBadRequest, status: 400, message: "must not be after"},
		{name: "401 wrong secret", secret: "not-the-secret", q: ok, want: client.ErrUnauthorized, status: 401, message: "invalid credentials"},
		{name: "403 key not allowed", q: with(func(q *client.Query) { q.WorkspaceID = "ws-elsewhere" }), want: client.ErrForbidden, status: 403, message: "not allowed"},
		{name: "403 not VIP", q: with(func(q *client.Query) { q.WorkspaceID, q.MediumID = wsBasic, chBasic }), want: client.ErrForbidden, status: 403, message: "not a VIP"},
		{name: "404 channel not connected", q: with(func(q *client.Query) { q.MediumID = chOff }), want: client.ErrNotFound, status: 404, message: "channel not found"},
		{name: "422 violations", q: with(func(q *client.Query) { q.Limit = 500; q.ContentType = "video" }), want: client.ErrInvalidQuery, status: 422,
			violations: []string{"any.only", "number.max"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := secret
			if tc.secret != "" {
				key = tc.secret
			}
			c := client.New(url, keyID, key)
			_, err := c.List(context.Background(), tc.q)
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if !errors.Is(err, tc.want) || apiErr.Status != tc.status {
				t.Errorf("err = %v (status %d), want %v", err, apiErr.Status, tc.want)
			}
			for _, other := range []error{client.ErrBadRequest, client.ErrUnauthorized, client.ErrForbidden, client.ErrNotFound, client.ErrInvalidQuery, client.ErrUnavailable, client.ErrServer} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("err also matches %v", other)
				}
			}
			if !strings.Contains(apiErr.Message, tc.message) {
				t.Errorf("message %q does not contain %q", apiErr.Message, tc.message)
			}
			var types []string
			for _, v := range apiErr.Violations {
				types = append(types, v.Type)
				if len(v.Path) != 1 || v.Message == "" || v.Context == nil {
					t.Errorf("violation %+v", v)
				}
			}
			slices.Sort(types)
			if !slices.Equal(types, tc.violations) {
				t.Errorf("violation types %v, want %v", types, tc.violations)
			}
			if apiErr.RequestID == "" {
				t.Error("no request id")
			}
		})
	}
}

// canned answers every request with status, headers and body.
func canned(t *testing.T, status int, header map[string]string, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		status     int
		header     map[string]string
		body       string
		want       error
		message    string
		retryAfter time.Duration
		violations int
	}{
		{status: 400, body: `{"message":"bad window"}`, want: client.ErrBadRequest, message: "bad window"},
		{status: 401, body: `{"message":"invalid credentials"}`, want: client.ErrUnauthorized, message: "invalid credentials"},
		{status: 403, body: `{"message":"Missing Authentication Token"}`, want: client.ErrForbidden, message: "Missing Authentication Token"},
		{status: 404, body: `{"message":"workspace not found"}`, want: client.ErrNotFound, message: "workspace not found"},
		{status: 422, body: `{"error":[{"message":"\"limit\" must be less than or equal to 200","path":["limit"],"type":"number.max","context":{"key":"limit","label":"limit","limit":200,"value":500}},{"message":"\"from\" is required","path":["from"],"type":"any.required","context":{"key":"from","label":"from"}}]}`,
			want: client.ErrInvalidQuery, message: `"limit" must be less than or equal to 200; "from" is required`, violations: 2},
		{status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"message":"Too Many Requests"}`, want: client.ErrTooManyRequests, message: "Too Many Requests", retryAfter: 3 * time.Second},
		{status: 500, body: `{"message":"internal error"}`, want: client.ErrServer, message: "internal error"},
		{status: 502, body: "<html>\n<b>Bad   gateway</b></html>", want: client.ErrServer, message: "<html> <b>Bad gateway</b></html>"},
		{status: 503, header: map[string]string{"Retry-After": "2"}, body: `{"message":"service temporarily unavailable, please retry"}`, want: client.ErrUnavailable, message: "please retry", retryAfter: 2 * time.Second},
		{status: 503, body: ``, want: client.ErrUnavailable, message: "(empty body)"},
	} {
		t.Run(fmt.Sprint(tc.status, " ", tc.message), func(t *testing.T) {
			srv, n := canned(t, tc.status, tc.header, tc.body)
			c := client.New(srv.URL, "key-0001", "s")
			c.Retry.MaxRetries = -1
			_, err := c.List(context.Background(), client.Query{})
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if !errors.Is(err, tc.want) || apiErr.Status != tc.status || !strings.Contains(apiErr.Message, tc.message) ||
				apiErr.RetryAfter != tc.retryAfter || len(apiErr.Violations) != tc.violations {
				t.Errorf("got %#v, want %v %q retryAfter %v, %d violations", apiErr, tc.want, tc.message, tc.retryAfter, tc.violations)
			}
			if apiErr.Temporary() != (tc.status == 503 || tc.status == 429) {
				t.Errorf("Temporary() = %v", apiErr.Temporary())
			}
			if n.Load() != 1 {
				t.Errorf("%d requests with retries off", n.Load())
			}
		})
	}
}

// sleeper records the waits instead of waiting.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	err   error
}

func (s *sleeper) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return s.err
}

func TestRetry(t *testing.T) {
	const page = `{"items":[],"returned":0,"mayHaveMore":false}`
	for _, tc := range []struct {
		name       string
		retryAfter string
		failures   int // 503s before a 200; -1: always
		status     int
		policy     client.RetryPolicy
		sleepErr   error
		requests   int
		wantErr    error
		minWait    []time.Duration
		maxWait    []time.Duration
	}{
		{name: "gives up after MaxRetries with Retry-After", retryAfter: "2", failures: -1, status: 503, requests: 4, wantErr: client.ErrUnavailable,
			minWait: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, maxWait: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{name: "recovers", retryAfter: "1", failures: 2, status: 503, requests: 3,
			minWait: []time.Duration{time.Second, time.Second}, maxWait: []time.Duration{time.Second, time.Second}},
		{name: "jittered exponential backoff without Retry-After", failures: -1, status: 503, requests: 5, wantErr: client.ErrUnavailable,
			policy:  client.RetryPolicy{MaxRetries: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: 300 * time.Millisecond},
			minWait: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond},
			maxWait: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}},
		{name: "backoff longer than Retry-After wins", retryAfter: "1", failures: -1, status: 503, requests: 2, wantErr: client.ErrUnavailable,
			policy:  client.RetryPolicy{MaxRetries: 1, BaseDelay: 4 * time.Second},
			minWait: []time.Duration{2 * time.Second}, maxWait: []time.Duration{4 * time.Second}},
		{name: "429 is retried too", retryAfter: "1", failures: 1, status: 429, requests: 2,
			minWait: []time.Duration{time.Second}, maxWait: []time.Duration{time.Second}},
		{name: "Retry-After past MaxRetryAfter is not waited for", retryAfter: "120", failures: -1, status: 503, requests: 1, wantErr: client.ErrUnavailable},
		{name: "retries off", retryAfter: "1", failures: -1, status: 503, policy: client.RetryPolicy{MaxRetries: -1}, requests: 1, wantErr: client.ErrUnavailable},
		{name: "4xx is not retried", failures: -1, status: 404, requests: 1, wantErr: client.ErrNotFound},
		{name: "500 is not retried", failures: -1, status: 500, requests: 1, wantErr: client.ErrServer},
		{name: "cancelled while waiting", retryAfter: "1", failures: -1, status: 503, sleepErr: context.Canceled, requests: 1, wantErr: context.Canceled,
			minWait: []time.Duration{time.Second}, maxWait: []time.Duration{time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var mu sync.Mutex
			var dates []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1))
				mu.Lock()
				dates = append(dates, r.Header.Get("x-date"))
				mu.Unlock()
				if r.Header.Get("x-signature") != signature.SignV2("s3cret", r.Header.Get("x-date"), r.URL.Query()) {
					t.Errorf("request %d not signed (v2) for its own x-date and query", i)
				}
				if tc.failures < 0 || i <= tc.failures {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(`{"message":"nope"}`))
					return
				}
				_, _ = w.Write([]byte(page))
			}))
			defer srv.Close()
			sl := &sleeper{err: tc.sleepErr}
			clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
			c := client.New(srv.URL, "key-0001", "s3cret")
			c.Retry, c.Sleep = tc.policy, sl.sleep
			c.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
			_, err := c.List(context.Background(), client.Query{WorkspaceID: "ws"})
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.sleepErr != nil && !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("err = %v, want the 503 too", err)
			}
			if int(n.Load()) != tc.requests {
				t.Errorf("%d requests, want %d", n.Load(), tc.requests)
			}
			if len(sl.waits) != len(tc.minWait) {
				t.Fatalf("waits %v, want %d", sl.waits, len(tc.minWait))
			}
			for i, w := range sl.waits {
				if w < tc.minWait[i] || w > tc.maxWait[i] {
					t.Errorf("wait %d = %v, want in [%v, %v]", i, w, tc.minWait[i], tc.maxWait[i])
				}
			}
			if len(slices.Compact(slices.Clone(dates))) != len(dates) {
				t.Errorf("x-date reused across attempts: %v", dates)
			}
		})
	}
}

func TestPagesFollowsCursorAndStopsEarly(t *testing.T) {
	var n atomic.Int32
	var befores []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		mu.Lock()
		befores = append(befores, r.URL.Query().Get("before"))
		mu.Unlock()
		if r.URL.Path != "/prod/vip-messages" {
			t.Errorf("path %q", r.URL.Path)
		}
		if i < 3 {
			fmt.Fprintf(w, `{"items":[{"timestamp":%d},{"timestamp":%d}],"returned":2,"mayHaveMore":true,"nextCursor":"c%d"}`, 100-2*i, 99-2*i, i)
			return
		}
		fmt.Fprint(w, `{"items":[{"timestamp":1}],"returned":1,"mayHaveMore":false}`)
	}))
	defer srv.Close()
	c := client.New(srv.URL+"/prod/", "key-0001", "s")

	var ts []int64
	for it, err := range c.All(context.Background(), client.Query{Before: "start"}) {
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, it.Timestamp)
	}
	if !slices.Equal(ts, []int64{98, 97, 96, 95, 1}) || !slices.Equal(befores, []string{"start", "c1", "c2"}) {
		t.Errorf("items %v, befores %v", ts, befores)
	}

	n.Store(0)
	for range c.All(context.Background(), client.Query{}) {
		break
	}
	if n.Load() != 1 {
		t.Errorf("break after the first item made %d requests", n.Load())
	}
}

func TestStuckCursorIsAnError(t *testing.T) {
	srv, _ := canned(t, 200, nil, `{"items":[],"returned":0,"mayHaveMore":true,"nextCursor":"same"}`)
	c := client.New(srv.URL, "key-0001", "s")
	var err error
	pages := 0
	for _, e := range c.Pages(context.Background(), client.Query{Before: "same"}) {
		pages++
		err = e
	}
	if err == nil || pages != 2 {
		t.Errorf("pages %d, last err %v", pages, err)
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "localhost:3000", "ftp://x", "http://"} {
		_, err := client.New(u, "k", "s").List(context.Background(), client.Query{})
		if err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("%q: err = %v", u, err)
		}
	}
}

func TestQueryValues(t *testing.T) {
	for _, tc := range []struct {
		q    client.Query
		want string
	}{
		{client.Query{}, ""},
		{client.Query{WorkspaceID: "ws", MediumID: "ch", From: "2026-06-01", To: "2026-06-01T10:00:00+02:00"},
			"from=2026-06-01&mediumId=ch&to=2026-06-01T10%3A00%3A00%2B02%3A00&workspaceId=ws"},
		{client.Query{WorkspaceID: "ws", Label: "cl-billing", ContentType: "text", Limit: 200, Before: "1780000000000"},
			"before=1780000000000&contentType=text&label=cl-billing&limit=200&workspaceId=ws"},
	} {
		if got := tc.q.Values().Encode(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.q, got, tc.want)
		}
	}
}

// A redirect is returned, not followed: the signed headers never reach another host.
func TestRedirectIsNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-signature") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/vip-messages", http.StatusFound)
	}))
	defer api.Close()
	_, err := client.New(api.URL, "k-0000001", "s").List(context.Background(), client.Query{WorkspaceID: "w"})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusFound || leaked.Load() {
		t.Fatalf("err = %v, leaked = %v; want the 302 as an APIError and nothing sent on", err, leaked.Load())
	}
}

func TestLongRetryAfterIsNotWaitedFor(t *testing.T) {
	var n atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "99999999")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer api.Close()
	c := client.New(api.URL, "k-0000001", "s")
	c.Sleep = func(context.Context, time.Duration) error { t.Fatal("slept"); return nil }
	if _, err := c.List(context.Background(), client.Query{WorkspaceID: "w"}); !errors.Is(err, client.ErrUnavailable) || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests; want ErrUnavailable at once", err, n.Load())
	}
}

func TestLabels(t *testing.T) {
	var got []*http.Request
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		fmt.Fprint(w, `{"total":1204,"labels":[{"label":"frustrated","kind":"builtin","count":37},{"label":"cl-billing","kind":"custom","count":12}]}`)
	}))
	defer srv.Close()
	q := client.Query{WorkspaceID: "ws-1", MediumID: "ch-1", From: "2026-06-01", To: "2026-06-30", Label: "ignored", Limit: 5, Before: "ignored"}
	for _, base := range []string{srv.URL + "/prod", srv.URL + "/prod/vip-messages"} {
		c := client.New(base, "key-0001", "s")
		counts, err := c.Labels(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := client.Labels{Total: 1204, Labels: []client.LabelCount{{Label: "frustrated", Kind: "builtin", Count: 37}, {Label: "cl-billing", Kind: "custom", Count: 12}}}
		if counts.Total != want.Total || !slices.Equal(counts.Labels, want.Labels) {
			t.Errorf("%s: %+v, want %+v", base, counts, want)
		}
	}
	for _, r := range got {
		// Signed over GET /vip-messages/labels, the resource asked for.
		sig := signature.SignV2For("s", http.MethodGet, client.LabelsPath, r.Header.Get(client.HeaderDate), r.URL.Query())
		if r.URL.Path != "/prod/vip-messages/labels" || r.URL.RawQuery != "from=2026-06-01&mediumId=ch-1&to=2026-06-30&workspaceId=ws-1" ||
			r.Header.Get(client.HeaderKeyID) != "key-0001" || r.Header.Get(client.HeaderSignature) != sig {
			t.Errorf("request %s %s %v", r.URL.Path, r.URL.RawQuery, r.Header)
		}
	}
}
