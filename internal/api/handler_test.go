package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/contract"
)

// anchor is the x-date of the sample events; the demo data is seeded as of it, so
// the events' windows hold data whatever day the tests run.
var anchor = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, stacktest.SeedNow(anchor))) }

// demoStack is one local stack (the demo data and key) shared by the package.
func demoStack(t *testing.T) *devstack.Stack {
	t.Helper()
	stack, _ := stacktest.API(t)
	return stack
}

// newHandler is the production wiring against the demo stack, logging to logs.
func newHandler(t *testing.T, logs *bytes.Buffer) *api.Handler {
	s := demoStack(t)
	return app.NewWithClients(s.Config(), s.DynamoDB(), s.SecretsManager(),
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func loadEvent(t *testing.T, name string) events.APIGatewayProxyRequest {
	t.Helper()
	path, err := repo.Path("events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sampleevent.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// eventStatus is the status an events/ file is named for: list* is a 200,
// error-NNN-* is NNN.
func eventStatus(t *testing.T, name string) int {
	if strings.HasPrefix(name, "list") {
		return http.StatusOK
	}
	var code int
	if _, err := fmt.Sscanf(name, "error-%d-", &code); err != nil {
		t.Fatalf("%s: name says no status", name)
	}
	return code
}

func call(t *testing.T, h *api.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	contract.CheckEvent(t, ev, resp)
	return resp
}

func decodePage(t *testing.T, resp events.APIGatewayProxyResponse) api.ListResponse {
	t.Helper()
	var p api.ListResponse
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSampleEvents(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	files, err := sampleevent.Files(filepath.Join(mustRoot(t), "events"))
	if err != nil || len(files) < 9 {
		t.Fatalf("events/: %v, %d files", err, len(files))
	}
	seen := map[int]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			ev := sampleevent.Resign(loadEvent(t, name), devstack.DemoSecret, time.Now())
			resp := call(t, h, ev)
			if want := eventStatus(t, name); resp.StatusCode != want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, resp.Body)
			}
			seen[resp.StatusCode] = true
			if resp.StatusCode == http.StatusOK && decodePage(t, resp).Returned == 0 {
				t.Fatal("a sample list event returns nothing: its window misses the demo data")
			}
		})
	}
	for _, code := range []int{200, 400, 401, 403, 404, 422} {
		if !seen[code] {
			t.Errorf("no sample event for status %d", code)
		}
	}
}

func mustRoot(t *testing.T) string {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The next-page sample continues the first page exactly.
func TestSampleNextPageContinuesFirst(t *testing.T) {
	h := newHandler(t, &bytes.Buffer{})
	first := decodePage(t, call(t, h, sampleevent.Resign(loadEvent(t, "list.json"), devstack.DemoSecret, time.Now())))
	next := loadEvent(t, "list-next-page.json")
	if got := next.QueryStringParameters["before"]; got != first.NextCursor {
		t.Fatalf("events/list-next-page.json has before=%q, the first page's nextCursor is %q", got, first.NextCursor)
	}
	second := decodePage(t, call(t, h, sampleevent.Resign(next, devstack.DemoSecret, time.Now())))
	both := loadEvent(t, "list.json")
	both.QueryStringParameters["limit"] = "100"
	delete(both.MultiValueQueryStringParameters, "limit")
	whole := decodePage(t, call(t, h, sampleevent.Resign(both, devstack.DemoSecret, time.Now())))
	if got := append(first.Items, second.Items...); len(whole.Items) != 100 || !slices.EqualFunc(got, whole.Items, func(a, b api.Item) bool {
		return a.Timestamp == b.Timestamp && a.ConversationID == b.ConversationID && a.Text == b.Text
	}) {
		t.Fatal("two pages of 50 differ from one page of 100")
	}
}

// request builds a signed event for a query string (values separated by "|"
// become repeated parameters).
func request(query map[string]string, mutate ...func(map[string]string)) events.APIGatewayProxyRequest {
	date := time.Now().UTC().Format(time.RFC3339)
	headers := map[string]string{
		"X-Api-Key":   devstack.DemoKeyID,
		"X-Date":      date,
		"X-Signature": auth.Sign(devstack.DemoSecret, date),
	}
	for _, m := range mutate {
		m(headers)
	}
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: http.MethodGet, Path: "/vip-messages", Resource: "/vip-messages",
		Headers: headers, QueryStringParameters: map[string]string{}, MultiValueQueryStringParameters: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "test-request"},
	}
	for k, v := range query {
		vs := strings.Split(v, "|")
		ev.QueryStringParameters[k] = vs[len(vs)-1]
		ev.MultiValueQueryStringParameters[k] = vs
	}
	return ev
}

func window(extra map[string]string) map[string]string {
	q := map[string]string{"workspaceId": seed.DemoWorkspace, "mediumId": seed.DemoChannel, "from": "2026-11-20", "to": "2026-11-26"}
	for k, v := range extra {
		if v == "-" {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return q
}

func TestStatuses(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	s := demoStack(t)
	// A key allowed only for ws-basic, to ask for ws-demo.
	if err := smlocal.PutKey(context.Background(), s.SecretsManager(), s.SecretPrefix, "other-key-0001",
		auth.SecretValue{Secrets: []string{"other-secret"}, WorkspaceIDs: []string{seed.DemoBasicWorkspace}}); err != nil {
		t.Fatal(err)
	}
	otherKey := func(h map[string]string) {
		h["X-Api-Key"] = "other-key-0001"
		h["X-Signature"] = auth.Sign("other-secret", h["X-Date"])
	}
	// A key allowed for a workspace that does not exist.
	if err := smlocal.PutKey(context.Background(), s.SecretsManager(), s.SecretPrefix, "ghost-key-0001",
		auth.SecretValue{Secrets: []string{"ghost-secret"}, WorkspaceIDs: []string{"ws-ghost"}}); err != nil {
		t.Fatal(err)
	}
	ghostKey := func(h map[string]string) {
		h["X-Api-Key"] = "ghost-key-0001"
		h["X-Signature"] = auth.Sign("ghost-secret", h["X-Date"])
	}
	unknownKey := func(h map[string]string) { h["X-Api-Key"] = "no-such-key-123" }
	wrongSig := func(h map[string]string) { h["X-Signature"] = auth.Sign("not-the-secret", h["X-Date"]) }

	cases := []struct {
		name   string
		ev     events.APIGatewayProxyRequest
		status int
		body   string // a substring of the body
	}{
		{"ok date-only window", request(window(nil)), 200, `"items":[{`},
		{"ok date-time window", request(window(map[string]string{"from": "2026-11-25T10:00:00+02:00", "to": "2026-11-26T00:00:00.5Z"})), 200, `"returned":`},
		{"ok epoch-ms before", request(window(map[string]string{"before": strconv.FormatInt(anchor.Add(-72*time.Hour).UnixMilli(), 10)})), 200, `"items":[{`},
		{"ok before older than the window: empty", request(window(map[string]string{"before": "1000"})), 200, `{"items":[],"returned":0,"mayHaveMore":false}`},
		{"ok exactly 31 days", request(window(map[string]string{"from": "2026-10-27", "to": "2026-11-26"})), 200, `"items":[{`},
		{"ok label and contentType", request(window(map[string]string{"label": "cl-billing", "contentType": "text", "limit": "3"})), 200, `"returned":`},

		{"400 reversed", request(window(map[string]string{"from": "2026-11-26", "to": "2026-11-20"})), 400, `must not be after`},
		{"400 reversed date-times", request(window(map[string]string{"from": "2026-11-26T00:00:01Z", "to": "2026-11-26T00:00:00Z"})), 400, `must not be after`},
		{"400 32 days", request(window(map[string]string{"from": "2026-10-26", "to": "2026-11-26"})), 400, `31 days`},
		{"400 31 days and 1 ms", request(window(map[string]string{"from": "2026-10-26T00:00:00Z", "to": "2026-11-26T00:00:00.001Z"})), 400, `31 days`},
		{"400 malformed cursor", request(window(map[string]string{"before": "v1.bm90LWEta2V5"})), 400, `before`},
		{"400 foreign token", request(window(map[string]string{"before": "abc"})), 400, `before`},

		{"401 no headers", request(window(nil), func(h map[string]string) { clear(h) }), 401, `x-api-key`},
		{"401 stale", request(window(nil), func(h map[string]string) {
			h["X-Date"] = time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339)
			h["X-Signature"] = auth.Sign(devstack.DemoSecret, h["X-Date"])
		}), 401, `server time`},
		{"401 unknown key", request(window(nil), unknownKey), 401, `{"message":"invalid credentials"}`},
		{"401 wrong signature", request(window(nil), wrongSig), 401, `{"message":"invalid credentials"}`},
		{"401 before validation", request(map[string]string{"limit": "x"}, wrongSig), 401, `invalid credentials`},

		{"403 key not allowed", request(window(nil), otherKey), 403, `not allowed for the workspace`},
		{"403 not VIP", request(window(map[string]string{"workspaceId": seed.DemoBasicWorkspace, "mediumId": seed.DemoBasicChannel})), 403, `not a VIP`},
		{"403 workspace not in the key's list, existing or not", request(window(map[string]string{"workspaceId": "ws-nope"})), 403, `not allowed`},
		{"404 unknown workspace", request(window(map[string]string{"workspaceId": "ws-ghost"}), ghostKey), 404, `workspace not found`},
		{"404 unknown channel", request(window(map[string]string{"mediumId": "ch-nope"})), 404, `channel not found`},
		{"404 disconnected channel", request(window(map[string]string{"mediumId": seed.DemoOffChannel})), 404, `channel not found`},

		{"422 missing all", request(nil), 422, `"type":"any.required"`},
		{"422 limit 0", request(window(map[string]string{"limit": "0"})), 422, `"type":"number.min"`},
		{"422 limit 201", request(window(map[string]string{"limit": "201"})), 422, `"type":"number.max"`},
		{"422 limit 1.5", request(window(map[string]string{"limit": "1.5"})), 422, `"type":"number.integer"`},
		{"422 limit abc", request(window(map[string]string{"limit": "abc"})), 422, `"type":"number.base"`},
		{"422 repeated limit", request(window(map[string]string{"limit": "1|2"})), 422, `"type":"any.duplicate"`},
		{"422 unknown parameter", request(window(map[string]string{"contentype": "text"})), 422, `"type":"object.unknown"`},
		{"422 bad contentType", request(window(map[string]string{"contentType": "video"})), 422, `"type":"any.only"`},
		{"422 hash in workspace", request(window(map[string]string{"workspaceId": "ws#1"})), 422, `"type":"string.pattern.base"`},
		{"422 empty medium", request(window(map[string]string{"mediumId": ""})), 422, `"type":"string.empty"`},
		{"422 long label", request(window(map[string]string{"label": strings.Repeat("x", 129)})), 422, `"type":"string.max"`},
		{"422 hash in label", request(window(map[string]string{"label": "a#b"})), 422, `"type":"string.pattern.base"`},
		{"422 control character in label", request(window(map[string]string{"label": "a\tb"})), 422, `"type":"string.pattern.base"`},
		{"ok label with a space and accents", request(window(map[string]string{"label": "très frustré"})), 200, `"mayHaveMore":false`},
		{"422 lower-case t in date-time", request(window(map[string]string{"from": "2026-11-20t10:00:00Z"})), 422, `"type":"date.format"`},
		{"422 comma fraction", request(window(map[string]string{"from": "2026-11-20T10:00:00,5Z"})), 422, `"type":"date.format"`},
		{"422 date without offset", request(window(map[string]string{"from": "2026-11-20T10:00:00"})), 422, `"type":"date.format"`},
		{"422 date garbage", request(window(map[string]string{"to": "yesterday"})), 422, `"type":"date.format"`},
		{"422 before 1970", request(window(map[string]string{"from": "1969-12-31"})), 422, `"type":"date.min"`},
		{"422 epoch before too large", request(window(map[string]string{"before": "99999999999999"})), 422, `"type":"number.max"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := call(t, h, c.ev)
			if resp.StatusCode != c.status || !strings.Contains(resp.Body, c.body) {
				t.Fatalf("got %d %s\nwant %d containing %s", resp.StatusCode, resp.Body, c.status, c.body)
			}
		})
	}

	t.Run("401 bodies of unknown key and wrong signature are identical", func(t *testing.T) {
		a := call(t, h, request(window(nil), unknownKey))
		b := call(t, h, request(window(nil), wrongSig))
		if a.Body != b.Body {
			t.Fatalf("%s != %s", a.Body, b.Body)
		}
	})
	t.Run("422 lists every violation in schema order", func(t *testing.T) {
		resp := call(t, h, request(map[string]string{"mediumId": "a#b", "limit": "500", "zzz": "1", "aaa": "2"}))
		var body struct{ Error []clienterr.Violation }
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range body.Error {
			got = append(got, v.Path[0]+":"+v.Type)
		}
		want := []string{"workspaceId:any.required", "mediumId:string.pattern.base", "from:any.required", "to:any.required",
			"limit:number.max", "aaa:object.unknown", "zzz:object.unknown"}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("an item carries every field, arrays never null", func(t *testing.T) {
		p := decodePage(t, call(t, h, request(window(map[string]string{"limit": "200"}))))
		for _, it := range p.Items {
			if it.Labels == nil || it.CustomLabelIDs == nil || it.Date != time.UnixMilli(it.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z") {
				t.Fatalf("bad item %+v", it)
			}
		}
	})
	checkNoSecretsLogged(t, logs.String(), texts(t, h)...)
}

// texts are message texts the handler returns, which the logs must not hold.
func texts(t *testing.T, h *api.Handler) []string {
	p := decodePage(t, call(t, h, request(window(map[string]string{"limit": "20"}))))
	var out []string
	for _, it := range p.Items {
		out = append(out, it.Text)
	}
	if len(out) == 0 {
		t.Fatal("no texts to look for")
	}
	return out
}

// The window bounds hold through the API: date-only from/to cover whole UTC
// days, and a date-time to is inclusive.
func TestWindowThroughAPI(t *testing.T) {
	h := newHandler(t, &bytes.Buffer{})
	var all []table.Message
	for _, cm := range seed.Demo(anchor).Messages {
		if cm.WorkspaceID == seed.DemoWorkspace && cm.MediumID == seed.DemoChannel {
			all = cm.Messages
		}
	}
	cases := []struct {
		from, to   string
		lo, hiIncl time.Time
	}{
		{"2026-11-20", "2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 23, 59, 59, 999e6, time.UTC)},
		{"2026-11-01T06:30:00Z", "2026-11-03T12:00:00.250+01:00", time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), time.Date(2026, 11, 3, 11, 0, 0, 250e6, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.from+".."+c.to, func(t *testing.T) {
			var want []int64
			for _, m := range all {
				if m.Timestamp >= c.lo.UnixMilli() && m.Timestamp <= c.hiIncl.UnixMilli() {
					want = append(want, m.Timestamp)
				}
			}
			slices.Sort(want)
			slices.Reverse(want)
			var got []int64
			q := window(map[string]string{"from": c.from, "to": c.to, "limit": "37"})
			for range 100 {
				p := decodePage(t, call(t, h, request(q)))
				for _, it := range p.Items {
					got = append(got, it.Timestamp)
				}
				if !p.MayHaveMore {
					break
				}
				q["before"] = p.NextCursor
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("got %d timestamps, want %d", len(got), len(want))
			}
		})
	}
}

// 503: Secrets Manager failing for a key that is not cached, and DynamoDB down.
func TestUnavailable(t *testing.T) {
	s := demoStack(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	fewRetries := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }

	t.Run("secrets manager down, key not cached", func(t *testing.T) {
		sm := smlocal.New()
		srv := startSM(t, sm)
		sm.SetFailure(smlocal.AllOperations, &smlocal.Internal)
		h := app.NewWithClients(s.Config(), s.DynamoDB(), smlocal.NewClient(srv, fewRetries), log)
		resp := call(t, h, request(window(nil)))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" {
			t.Fatalf("got %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
		}
	})
	t.Run("dynamodb down", func(t *testing.T) {
		down := ddblocal.NewClient("http://127.0.0.1:1") // nothing listens there
		h := app.NewWithClients(s.Config(), down, s.SecretsManager(), log)
		resp := call(t, h, request(window(nil)))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
		}
		if strings.Contains(resp.Body, "127.0.0.1") || strings.Contains(resp.Body, "dial") {
			t.Fatalf("503 body leaks the cause: %s", resp.Body)
		}
	})
	checkNoSecretsLogged(t, logs.String())
}

type fakeAuth struct{}

func (fakeAuth) Authenticate(context.Context, map[string]string, map[string][]string, map[string][]string) (auth.Key, error) {
	return auth.Key{ID: "k-0000001", WorkspaceIDs: []string{"ws"}}, nil
}

type allowAll struct{}

func (allowAll) Check(context.Context, auth.Key, string, string) error         { return nil }
func (allowAll) Known(context.Context, auth.Key, string, string) (error, bool) { return nil, true }

type brokenStore struct{ panics bool }

func (b brokenStore) List(context.Context, messages.Query) (messages.Page, error) {
	if b.panics {
		panic("index out of range [3] with length 3")
	}
	return messages.Page{}, errors.New("ValidationException: secret table detail at /var/task")
}

// 500: a bug answers "internal error" and logs the detail, never sends it.
func TestInternalErrorDoesNotLeak(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprint("panic ", panics), func(t *testing.T) {
			var logs bytes.Buffer
			h := api.New(fakeAuth{}, allowAll{}, brokenStore{panics: panics}, slog.New(slog.NewJSONHandler(&logs, nil)))
			resp := call(t, h, request(window(map[string]string{"workspaceId": "ws"})))
			if resp.StatusCode != 500 || resp.Body != `{"message":"internal error"}` {
				t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "test-request") {
				t.Fatalf("the detail is not logged with the request id: %s", logs.String())
			}
		})
	}
}

// One log line per request, with the fields operators need and nothing secret.
func TestRequestLogLine(t *testing.T) {
	var logs bytes.Buffer
	h := newHandler(t, &logs)
	ev := request(window(map[string]string{"limit": "5"}))
	call(t, h, ev)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d request lines", len(lines))
	}
	for _, k := range []string{"requestId", "apiKeyId", "workspaceId", "mediumId", "status", "ItemsReturned", "ReadCapacity", "Latency", "BodyBytes"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("request line lacks %s: %v", k, lines[0])
		}
	}
	if lines[0]["ItemsReturned"] != float64(5) {
		t.Errorf("ItemsReturned = %v", lines[0]["ItemsReturned"])
	}
	checkNoSecretsLogged(t, logs.String(), append(texts(t, h), ev.Headers["X-Signature"], ev.Headers["X-Date"])...)
}

func checkNoSecretsLogged(t *testing.T, logs string, also ...string) {
	t.Helper()
	for _, s := range append([]string{devstack.DemoSecret, "other-secret", "ghost-secret"}, also...) {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
	if strings.Contains(logs, `"text"`) {
		t.Error("logs carry a message text field")
	}
}

type slowStore struct{}

func (slowStore) List(ctx context.Context, _ messages.Query) (messages.Page, error) {
	<-ctx.Done()
	return messages.Page{}, fmt.Errorf("messages: query: %w", clienterr.Outage(ctx.Err()))
}

// A dependency that hangs ends in our own 503 before the Lambda deadline, not in
// API Gateway's bare 502/504.
func TestSlowDependencyAnswers503BeforeTheDeadline(t *testing.T) {
	h := api.New(fakeAuth{}, allowAll{}, slowStore{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	ev := request(window(map[string]string{"workspaceId": "ws"}))
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	contract.CheckEvent(t, ev, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || ctx.Err() != nil {
		t.Fatalf("got %d (lambda context: %v), want a 503 while the Lambda still has time", resp.StatusCode, ctx.Err())
	}
}

// A 401 is one line at the default level, the request's own, with metrics on
// and off: its request id, the key id when it is well formed, and why
// (auth.Reasons), never the signature or the x-date; the verifier logs nothing
// of its own.
func TestUnauthorizedLogLine(t *testing.T) {
	s := demoStack(t)
	set := func(k, v string) func(map[string]string) {
		return func(h map[string]string) {
			if v == "" {
				delete(h, k)
				return
			}
			h[k] = v
		}
	}
	resign := func(secret string) func(map[string]string) {
		return func(h map[string]string) { h["X-Signature"] = auth.Sign(secret, h["X-Date"]) }
	}
	stale := time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339)
	cases := []struct {
		name   string
		mutate []func(map[string]string)
		key    string // "" when the line must have none
		reason string
	}{
		{"wrong signature", []func(map[string]string){resign("other-secret")}, devstack.DemoKeyID, auth.ReasonSignatureMismatch},
		{"unknown key", []func(map[string]string){set("X-Api-Key", "nobody-key-0001")}, "nobody-key-0001", auth.ReasonUnknownKey},
		{"stale x-date", []func(map[string]string){set("X-Date", stale), resign(devstack.DemoSecret)}, devstack.DemoKeyID, auth.ReasonStaleDate},
		{"uppercase signature", []func(map[string]string){func(h map[string]string) { h["X-Signature"] = strings.ToUpper(h["X-Signature"]) }}, devstack.DemoKeyID, auth.ReasonSignatureFormat},
		{"missing signature", []func(map[string]string){set("X-Signature", "")}, devstack.DemoKeyID, auth.ReasonMissingHeader},
		{"missing key", []func(map[string]string){set("X-Api-Key", "")}, "", auth.ReasonMissingHeader},
		{"malformed key id", []func(map[string]string){set("X-Api-Key", "bad key!")}, "", auth.ReasonKeyIDFormat},
	}
	for _, stage := range []string{"", "prod"} {
		var logs bytes.Buffer
		cfg := s.Config()
		cfg.Stage = stage // "": metrics off
		h := app.NewWithClients(cfg, s.DynamoDB(), s.SecretsManager(), slog.New(slog.NewJSONHandler(&logs, nil)))
		for _, tc := range cases {
			t.Run(fmt.Sprintf("metrics %v/%s", stage != "", tc.name), func(t *testing.T) {
				logs.Reset()
				ev := request(window(nil), tc.mutate...)
				if resp := call(t, h, ev); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
				}
				out := strings.TrimSpace(logs.String())
				if strings.Count(out, "\n") != 0 {
					t.Fatalf("want one line for the request:\n%s", out)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatal(err)
				}
				if m["msg"] != "request" || m["level"] != "INFO" || m["requestId"] != "test-request" || m["status"] != float64(401) ||
					m[metrics.DimReason] != tc.reason || m["reason"] == nil {
					t.Errorf("line %v, want the request's INFO line with Reason %q", m, tc.reason)
				}
				if got, has := m["apiKeyId"]; tc.key == "" && has || tc.key != "" && got != tc.key {
					t.Errorf("apiKeyId %v, want %q", got, tc.key)
				}
				checkNoSecretsLogged(t, out, ev.Headers["X-Signature"], ev.Headers["X-Date"])
			})
		}
	}
}
