package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/access"
	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/contract"
)

// The handler's tests run it behind the real authorizer (the real
// auth.Verifier over an in-memory key source), as API Gateway does, and over
// fakes of the access check and the message store (the interfaces the
// handler declares). The real key store, checker and store are tested in
// their own packages against their dependencies.

// The fixture's data: one VIP workspace with a connected channel of messages,
// a disconnected one, and a workspace that is not VIP.
const (
	demoKeyID, demoSecret = "demo-key-0001", "demo-secret-value"
	wsVIP, chOn, chOff    = "ws-vip", "ch-on", "ch-off"
	wsBasic, chBasic      = "ws-basic", "ch-basic"
	wsGhost               = "ws-ghost" // a key allows it; the table does not hold it
)

// day is the day the fixture's messages are spread over, from 00:00 UTC.
var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// fixtureMessages are n messages of the channel, one every 13 minutes from
// day on, with labels and kinds that vary, and texts a log must never hold.
func fixtureMessages(n int) []table.Message {
	labels := [][]string{{"frustrated"}, {"cl-billing", "très frustré"}, nil}
	kinds := []string{"text", "other", "text"}
	var out []table.Message
	for i := range n {
		out = append(out, table.Message{
			MessageID: fmt.Sprintf("msg-%04d", i), Timestamp: day.Add(time.Duration(i) * 13 * time.Minute).UnixMilli(),
			ConversationID: fmt.Sprintf("conv-%02d", i%7), UserName: "user", Kind: kinds[i%3], Source: "web",
			Labels: labels[i%3], Text: fmt.Sprintf("secret text %04d", i),
		})
	}
	return out
}

// keySource is an auth.KeySource in memory. It records each lookup in the
// request's metrics as keystore.Store does: a key's first lookup is a miss
// that waits on Secrets Manager, later ones are hits; a failure is never
// remembered.
type keySource struct {
	mu     sync.Mutex
	values map[string]auth.SecretValue
	// cached holds each key id looked up, and whether it was found.
	cached map[string]bool
	// fail, when set, answers every lookup (auth.ErrUnavailable).
	fail error
	// denied answers every lookup as Secrets Manager's AccessDenied: an
	// unknown key, counted apart.
	denied bool
}

func newKeySource() *keySource {
	return &keySource{cached: map[string]bool{}, values: map[string]auth.SecretValue{
		demoKeyID:        {Secrets: []string{demoSecret}, WorkspaceIDs: []string{wsVIP, wsBasic}},
		"other-key-0001": {Secrets: []string{"other-secret"}, WorkspaceIDs: []string{wsBasic}},
		"ghost-key-0001": {Secrets: []string{"ghost-secret"}, WorkspaceIDs: []string{wsGhost}},
	}}
}

func (k *keySource) LookupKey(ctx context.Context, id string) (auth.SecretValue, error) {
	rec := metrics.FromContext(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	found, hit := k.cached[id]
	rec.KeyCache(hit)
	if !hit {
		rec.WaitedSecretsManager(wait())
		if k.fail != nil {
			return auth.SecretValue{}, k.fail
		}
		_, found = k.values[id]
		if k.denied {
			rec.KeyLookupDenied()
			found = false
		}
		k.cached[id] = found
	}
	if !found {
		return auth.SecretValue{}, auth.ErrUnauthenticated
	}
	return k.values[id], nil
}

// accessFake answers the access check from a table of verdicts, and caches
// each answer as access.Checker does: Known knows a key's own workspace list
// and every answer read before; Check reads (a workspace cache miss and a
// DynamoDB call) when Known does not know.
type accessFake struct {
	mu       sync.Mutex
	verdicts map[[2]string]error // absent: access.ErrWorkspaceNotFound
	warm     map[[2]string]error
	// fail, when set, is every read's error; it is not cached.
	fail error
	// reading, when set, runs at the start of every read (a test holds it).
	reading func(ctx context.Context)
}

func newAccessFake() *accessFake {
	return &accessFake{warm: map[[2]string]error{}, verdicts: map[[2]string]error{
		{wsVIP, chOn}:       nil,
		{wsVIP, chOff}:      access.ErrChannelNotFound,
		{wsVIP, "ch-nope"}:  access.ErrChannelNotFound,
		{wsBasic, chBasic}:  access.ErrNotVIP,
		{wsBasic, "ch-any"}: access.ErrNotVIP,
	}}
}

func (a *accessFake) Known(ctx context.Context, key auth.Key, ws, ch string) (error, bool) {
	if !key.Allows(ws) {
		return access.ErrKeyNotAllowed, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.warm[[2]string{ws, ch}]
	if ok {
		metrics.FromContext(ctx).WorkspaceCache(true)
	}
	return v, ok
}

func (a *accessFake) Check(ctx context.Context, key auth.Key, ws, ch string) error {
	if v, ok := a.Known(ctx, key, ws, ch); ok {
		return v
	}
	rec := metrics.FromContext(ctx)
	rec.WorkspaceCache(false)
	rec.CalledDynamoDB(wait())
	if a.reading != nil {
		a.reading(ctx)
	}
	if err := ctx.Err(); err != nil {
		return clienterr.Outage(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	v, ok := a.verdicts[[2]string{ws, ch}]
	if !ok {
		v = access.ErrWorkspaceNotFound
	}
	a.warm[[2]string{ws, ch}] = v
	return v
}

// storeFake lists messages from memory: the window, label, content type,
// cursor and limit as messages.Store applies them, in one call. The store's
// own paging and read paths are tested in internal/messages.
type storeFake struct {
	mu       sync.Mutex
	channels map[[2]string][]table.Message
	// labelFilter: label pages say they were read with a filter, as with
	// LABEL_QUERY=filter.
	labelFilter bool
	// fail, when set, is every List's error.
	fail error
	// listing, when set, runs at the start of every List (a test holds it).
	listing func(ctx context.Context)
	// queries are the queries List was given.
	queries []messages.Query
}

func newStoreFake() *storeFake {
	return &storeFake{channels: map[[2]string][]table.Message{
		{wsVIP, chOn}:  fixtureMessages(300),
		{wsVIP, chOff}: fixtureMessages(20), // a 404 must not leak them
	}}
}

func (s *storeFake) List(ctx context.Context, q messages.Query) (messages.Page, error) {
	if s.listing != nil {
		s.listing(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	if s.fail != nil {
		return messages.Page{}, s.fail
	}
	if err := ctx.Err(); err != nil {
		return messages.Page{}, fmt.Errorf("messages: query: %w", clienterr.Outage(err))
	}
	lo, hi := table.MessageSKAt(ceilMS(q.From)), table.MessageSKAt(ceilMS(q.Until))
	if q.Before != nil {
		hi = min(hi, positionSK(*q.Before))
	}
	page := messages.Page{Messages: []table.Message{}}
	if hi <= lo {
		return page, nil
	}
	page.Stats = messages.Stats{Calls: 1, ReadCapacity: 0.5, Path: messages.ReadUnfiltered}
	switch {
	case q.Label != "" && !s.labelFilter:
		page.Stats.Path = messages.ReadLabelIndex
	case q.Label != "" || q.ContentType != "":
		page.Stats.Path = messages.ReadFilter
	}
	metrics.FromContext(ctx).CalledDynamoDB(wait())
	all := slices.Clone(s.channels[[2]string{q.WorkspaceID, q.MediumID}])
	slices.SortFunc(all, func(a, b table.Message) int { return -strings.Compare(sk(a), sk(b)) })
	for _, m := range all {
		if k := sk(m); k < lo || k >= hi ||
			q.Label != "" && !slices.Contains(m.Labels, q.Label) && !slices.Contains(m.CustomLabelIDs, q.Label) ||
			q.ContentType != "" && m.Kind != q.ContentType {
			continue
		}
		page.Stats.ItemsRead++
		if len(page.Messages) == q.Limit {
			page.MayHaveMore, page.Next = true, positionAt(page.Keys[len(page.Keys)-1])
			break
		}
		page.Messages = append(page.Messages, m)
		page.Keys = append(page.Keys, sk(m))
	}
	return page, nil
}

// wait is a dependency's answer time: a real wait, so that the request's
// latency covers it, long enough to show in milliseconds to 3 decimals.
func wait() time.Duration {
	start := time.Now()
	time.Sleep(20 * time.Microsecond)
	return time.Since(start)
}

func sk(m table.Message) string { return table.MessageSK(m.Timestamp, m.MessageID) }

func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// positionSK and positionAt read and make positions through their token
// (docs/cursor.md): "v1." and the sort key in unpadded base64url.
func positionSK(p messages.Position) string {
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(p.Token(), "v1."))
	return string(raw)
}

func positionAt(sk string) *messages.Position {
	p, err := messages.ParseCursor("v1." + base64.RawURLEncoding.EncodeToString([]byte(sk)))
	if err != nil {
		panic(err)
	}
	return &p
}

// fixture is a handler over the fakes, logging JSON to logs.
type fixture struct {
	keys   *keySource
	access *accessFake
	store  *storeFake
	logs   *bytes.Buffer
	h      *api.Handler
	z      *authorizer.Authorizer // over keys
	// direct: a test sends its requests to the handler alone.
	direct bool
}

// call answers ev through the fixture's authorizer and handler.
func (f *fixture) call(t *testing.T, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	return callVia(t, f.z, f.h, ev)
}

func newFixture(opts ...api.Option) *fixture {
	f := &fixture{keys: newKeySource(), access: newAccessFake(), store: newStoreFake(), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.h = api.New(f.access, f.store, log, opts...)
	f.z = authorizer.New(auth.NewVerifier(f.keys, log), log)
	return f
}

// testAuthorizer is the API's authorizer over the fixture's keys, which call
// runs before the handler as API Gateway does.
var testAuthorizer = authorizer.New(auth.NewVerifier(newKeySource(), nil), nil)

const testMethodArn = "arn:aws:execute-api:eu-west-1:123456789012:api/test/GET/vip-messages"

// call answers ev as a stage does: the authorizer first (a refusal is the
// stage's 401 or 503), then the handler with the authorizer's context. It
// checks the response against openapi.yaml.
func call(t *testing.T, h *api.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	return callVia(t, testAuthorizer, h, ev)
}

func callVia(t *testing.T, z *authorizer.Authorizer, h *api.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	decision, err := z.Handle(context.Background(), authorizer.Event(ev, testMethodArn))
	if r, refused := authorizer.Refuse(decision, err); refused {
		resp := events.APIGatewayProxyResponse{StatusCode: r.Status, Body: r.Body,
			Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Request-Id": ev.RequestContext.RequestID}}
		if r.RetryAfter != "" {
			resp.Headers["Retry-After"] = r.RetryAfter
		}
		contract.CheckEvent(t, ev, resp)
		return resp
	}
	return handle(t, h, authorizer.WithContext(ev, decision))
}

// handle answers ev with the handler alone and checks the response against
// openapi.yaml.
func handle(t *testing.T, h *api.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
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

// request builds an event signed (version 1) by the demo key for a query
// string (values separated by "|" become repeated parameters).
func request(query map[string]string, mutate ...func(map[string]string)) events.APIGatewayProxyRequest {
	date := time.Now().UTC().Format(time.RFC3339)
	headers := map[string]string{
		"X-Api-Key":   demoKeyID,
		"X-Date":      date,
		"X-Signature": auth.Sign(demoSecret, date),
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

// authorized is ev as the authorizer passes it on for the demo key.
func authorized(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
	return authorizer.WithContext(ev, authorizer.Allow(testMethodArn, auth.Key{ID: demoKeyID, WorkspaceIDs: []string{wsVIP, wsBasic}}))
}

// window is the query of the fixture's channel and day; extra adds to it, and
// "-" removes.
func window(extra map[string]string) map[string]string {
	q := map[string]string{"workspaceId": wsVIP, "mediumId": chOn, "from": "2026-11-20", "to": "2026-11-26"}
	for k, v := range extra {
		if v == "-" {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return q
}

// requestLine is the request's log line.
func requestLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	return logLine(t, logs, "request")
}

// logLine is the first line of logs with this msg.
func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no %s line in %s", msg, logs)
	return nil
}

// secrets are what no log line or EMF document may hold: the keys' secrets
// and every message text of the fixture.
func secrets() []string {
	out := []string{demoSecret, "other-secret", "ghost-secret"}
	for _, m := range fixtureMessages(300) {
		out = append(out, m.Text)
	}
	return out
}

func checkNoSecretsLogged(t *testing.T, logs string, also ...string) {
	t.Helper()
	for _, s := range append(secrets(), also...) {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
	if strings.Contains(logs, `"text"`) {
		t.Error("logs carry a message text field")
	}
}
