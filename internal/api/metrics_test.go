package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/testkit/emfcheck"
)

const testStage = "metrics-test"

// declared is every metric the handler declares, by name.
func declared() map[string]struct {
	m    metrics.Metric
	dims [][]string
} {
	out := map[string]struct {
		m    metrics.Metric
		dims [][]string
	}{}
	for _, d := range api.Directives {
		for _, m := range d.Metrics {
			out[m.Name] = struct {
				m    metrics.Metric
				dims [][]string
			}{m, d.Dimensions}
		}
	}
	return out
}

// expect is what a request's document must say beyond its status.
type expect struct {
	lookup   bool              // the request was authenticated
	access   bool              // the workspace was looked up (cache outcome, DynamoDB on a miss)
	path     messages.ReadPath // how the page was read; ReadNone: no page
	ddbFails bool              // DynamoDB fails: nothing is cached
}

// The request lines of a 200 (each read path), a 401 of each reason, a 403, a
// 404, a 422 and a 503 (each dependency) are EMF documents: namespace,
// dimensions, metric names and units as declared, values as the request.
func TestRequestMetrics(t *testing.T) {
	otherKey := func(h map[string]string) {
		h["X-Api-Key"] = "other-key-0001"
		h["X-Signature"] = auth.Sign("other-secret", h["X-Date"])
	}
	down := fmt.Errorf("injected: %w", clienterr.ErrUnavailable)
	labelFilter := func(f *fixture) { f.store.labelFilter = true }
	ddbDown := func(f *fixture) { f.access.fail, f.store.fail = down, down }
	// The handler alone, as a direct invoke reaches it (no authorizer context).
	direct := func(f *fixture) { f.direct = true }

	cases := []struct {
		name   string
		ev     events.APIGatewayProxyRequest
		change func(*fixture)
		status int
		want   expect
	}{
		{"200 unfiltered", request(window(map[string]string{"limit": "7"})), nil, 200,
			expect{lookup: true, access: true, path: messages.ReadUnfiltered}},
		{"200 contentType filter", request(window(map[string]string{"contentType": "text", "limit": "7"})), nil, 200,
			expect{lookup: true, access: true, path: messages.ReadFilter}},
		{"200 label index", request(window(map[string]string{"label": "frustrated", "limit": "7"})), nil, 200,
			expect{lookup: true, access: true, path: messages.ReadLabelIndex}},
		{"200 label on the filter path", request(window(map[string]string{"label": "frustrated", "limit": "7"})), labelFilter, 200,
			expect{lookup: true, access: true, path: messages.ReadFilter}},
		{"200 nothing below the cursor", request(window(map[string]string{"before": "1000"})), nil, 200,
			expect{lookup: true, access: true}},

		{"403 key not allowed: no workspace lookup", request(window(nil), otherKey), nil, 403,
			expect{lookup: true}},
		{"403 not VIP", request(window(map[string]string{"workspaceId": wsBasic, "mediumId": chBasic})), nil, 403,
			expect{lookup: true, access: true}},
		{"404 channel", request(window(map[string]string{"mediumId": chOff})), nil, 404,
			expect{lookup: true, access: true}},
		{"400 reversed window", request(window(map[string]string{"from": "2026-11-26", "to": "2026-11-20"})), nil, 400,
			expect{lookup: true}},
		{"422", request(window(map[string]string{"limit": "500"})), nil, 422,
			expect{lookup: true}},
		{"503 DynamoDB down", request(window(nil)), ddbDown, 503,
			expect{lookup: true, access: true, ddbFails: true}},
		{"401 without the authorizer's context", request(window(nil)), direct, 401, expect{}},
	}
	var all bytes.Buffer
	seenMetrics := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(api.WithMetrics(testStage))
			if tc.change != nil {
				tc.change(f)
			}
			h, logs := f.h, f.logs
			// Twice on a fresh handler: the first meets cold caches, the second warm ones.
			for round, cold := range []bool{true, false} {
				logs.Reset()
				ev := tc.ev
				var resp events.APIGatewayProxyResponse
				if f.direct {
					resp = handle(t, h, ev)
				} else {
					resp = call(t, h, ev)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
				}
				docs, err := emfcheck.Lines(logs.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				if len(docs) != 1 {
					t.Fatalf("round %d: %d EMF documents, want one per request:\n%s", round, len(docs), logs.String())
				}
				checkDocument(t, docs[0], ev, resp, tc.want, cold)
				// Its own signature and x-date (another request's x-date may be
				// this one's server time, which a 401 message states).
				checkNoTextInDocuments(t, logs.Bytes(), ev.Headers["X-Signature"], ev.Headers["X-Date"])
				for n := range docs[0].Metrics {
					seenMetrics[n] = true
				}
				all.Write(logs.Bytes())
			}
		})
	}
	for name := range declared() {
		if !seenMetrics[name] {
			t.Errorf("declared metric %s is in no document: the dashboard may show a metric that never comes", name)
		}
	}
	checkNoTextInDocuments(t, all.Bytes())
}

func checkDocument(t *testing.T, d emfcheck.Doc, ev events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse, want expect, cold bool) {
	t.Helper()
	decl := declared()
	for name, m := range d.Metrics {
		dm, ok := decl[name]
		if !ok {
			t.Errorf("%s is not a declared metric", name)
			continue
		}
		if m.Namespace != metrics.Namespace || m.Unit != string(dm.m.Unit) || !slices.EqualFunc(m.Dimensions, dm.dims, slices.Equal) {
			t.Errorf("%s: namespace %s unit %s dimensions %v, want %s %s %v", name, m.Namespace, m.Unit, m.Dimensions, metrics.Namespace, dm.m.Unit, dm.dims)
		}
	}
	value := func(m metrics.Metric) (float64, bool) {
		v, ok := d.Metrics[m.Name]
		return v.Value, ok
	}
	must := func(m metrics.Metric) float64 {
		v, ok := value(m)
		if !ok {
			t.Errorf("no %s", m.Name)
		}
		return v
	}
	absent := func(ms ...metrics.Metric) {
		for _, m := range ms {
			if v, ok := value(m); ok {
				t.Errorf("%s = %v, want none", m.Name, v)
			}
		}
	}
	pair := func(hit, miss metrics.Metric, wantHit bool) {
		if h, m := must(hit), must(miss); h != oneIf(wantHit) || m != oneIf(!wantHit) {
			t.Errorf("%s %v %s %v, want a hit: %v", hit.Name, h, miss.Name, m, wantHit)
		}
	}

	if d.Dimension(metrics.DimStage) != testStage {
		t.Errorf("Stage %q, want %q", d.Dimension(metrics.DimStage), testStage)
	}
	// The request's ids are properties of the document, never dimensions.
	if got := d.Members["requestId"]; got != ev.RequestContext.RequestID {
		t.Errorf("requestId %v", got)
	}
	wantKey, _ := auth.KeyID(ev.Headers, ev.MultiValueHeaders)
	if resp.StatusCode == http.StatusUnauthorized {
		wantKey = "" // not authenticated
	}
	if got, _ := d.Members["apiKeyId"].(string); got != wantKey {
		t.Errorf("apiKeyId %q, want %q", got, wantKey)
	}
	validated := resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusUnprocessableEntity
	for member, param := range map[string]string{"workspaceId": "workspaceId", "mediumId": "mediumId"} {
		got, has := d.Members[member]
		if validated && got != ev.QueryStringParameters[param] || !validated && has {
			t.Errorf("%s %v (present %v) for a %d", member, got, has, resp.StatusCode)
		}
	}
	if ts := time.UnixMilli(d.Timestamp); time.Since(ts) > time.Minute || time.Since(ts) < 0 {
		t.Errorf("Timestamp %v is not now", ts)
	}
	status := resp.StatusCode
	for _, c := range []struct {
		m  metrics.Metric
		in bool
	}{{api.MetricStatus2xx, status < 300}, {api.MetricStatus4xx, status >= 400 && status < 500}, {api.MetricStatus5xx, status >= 500}} {
		if v := must(c.m); v != oneIf(c.in) {
			t.Errorf("%s = %v for a %d", c.m.Name, v, status)
		}
	}
	latency := must(api.MetricLatency)
	if latency <= 0 {
		t.Errorf("Latency %v", latency)
	}
	if v := must(api.MetricBodyBytes); v != float64(len(resp.Body)) {
		t.Errorf("BodyBytes %v, body is %d bytes", v, len(resp.Body))
	}

	if status == http.StatusOK {
		var page api.ListResponse
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil {
			t.Fatal(err)
		}
		if v := must(api.MetricItemsReturned); v != float64(page.Returned) {
			t.Errorf("ItemsReturned %v, the page has %d", v, page.Returned)
		}
		if v := must(api.MetricItemsRead); v < float64(page.Returned) || want.path == messages.ReadUnfiltered && v > float64(page.Returned+1) {
			t.Errorf("ItemsRead %v for %d returned on path %v", v, page.Returned, want.path)
		}
		if v := must(api.MetricResponseBytes); v <= float64(len(resp.Body)) {
			t.Errorf("ResponseBytes %v, not above the body's %d", v, len(resp.Body))
		}
		if want.path != messages.ReadNone && must(api.MetricReadCapacity) <= 0 {
			t.Error("a page read from DynamoDB consumed no capacity")
		}
	} else {
		absent(api.MetricItemsReturned, api.MetricItemsRead, api.MetricReadCapacity, api.MetricResponseBytes)
	}

	if want.path != messages.ReadNone {
		for _, c := range []struct {
			m metrics.Metric
			p messages.ReadPath
		}{{api.MetricReadUnfiltered, messages.ReadUnfiltered}, {api.MetricReadFilter, messages.ReadFilter}, {api.MetricReadLabelIndex, messages.ReadLabelIndex}} {
			if v := must(c.m); v != oneIf(c.p == want.path) {
				t.Errorf("%s = %v, want path %v", c.m.Name, v, want.path)
			}
		}
	} else {
		absent(api.MetricReadUnfiltered, api.MetricReadFilter, api.MetricReadLabelIndex)
	}

	if want.access {
		miss := cold || want.ddbFails
		pair(api.MetricWorkspaceCacheHit, api.MetricWorkspaceCacheMiss, !miss)
	} else {
		absent(api.MetricWorkspaceCacheHit, api.MetricWorkspaceCacheMiss)
	}
	dynamo := want.path != messages.ReadNone || want.access && (cold || want.ddbFails)
	if v, ok := value(api.MetricDynamoDBTime); ok != dynamo || ok && v <= 0 {
		t.Errorf("DynamoDBTime %v (present %v), want DynamoDB calls: %v", v, ok, dynamo)
	}
	if ddb, _ := value(api.MetricDynamoDBTime); ddb > latency {
		t.Errorf("dependency time %v is more than the latency %v", ddb, latency)
	}
	if r, ok := d.Members[metrics.DimReason]; ok {
		t.Errorf("Reason %v on a %d: authentication failures are the authorizer's", r, status)
	}
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// docMembers are the only top-level members a request document may have:
// anything else could be a field someone added with content in it.
var docMembers = []string{"time", "level", "msg", "requestId", "status", "queryCalls", "apiKeyId", "workspaceId", "mediumId",
	"reason", "error", "_aws", metrics.DimStage, metrics.DimReason}

// reporter is the part of *testing.T the check below uses.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

// checkNoTextInDocuments fails when a document holds a message text of the
// demo data, a secret, one of also (the requests' signatures and x-dates), or
// a member that is neither a metric nor a known field.
func checkNoTextInDocuments(t reporter, out []byte, also ...string) {
	t.Helper()
	docs, err := emfcheck.Lines(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no documents to check")
	}
	forbidden := append(secrets(), "not-the-secret")
	for _, a := range also {
		if len(a) >= 8 {
			forbidden = append(forbidden, a)
		}
	}
	decl := declared()
	for _, d := range docs {
		for k, v := range d.Members {
			if _, isMetric := decl[k]; !isMetric && !slices.Contains(docMembers, k) {
				t.Errorf("document member %q is neither a metric nor a known field", k)
			}
			if k == "time" {
				continue
			}
			s, _ := json.Marshal(v)
			for _, f := range forbidden {
				if strings.Contains(string(s), f) {
					t.Errorf("document member %s holds %q", k, f)
				}
			}
		}
	}
}

// TestMessageTextCheckFails: the no-text check above fails on a document
// that carries a message text (so it can fail at all).
func TestMessageTextCheckFails(t *testing.T) {
	text := fixtureMessages(1)[0].Text
	sig := auth.Sign("s", "2026-06-01T12:00:00Z")
	for _, attrs := range [][]slog.Attr{
		nil, // the control: passes
		{slog.String("requestId", text)},
		{slog.String("error", "decode: "+text+" at offset 3")},
		{slog.String("userText", "x")},
		{slog.String("reason", "signature "+sig)},
		{slog.String("apiKeyId", demoSecret)},
	} {
		doc := metrics.New(time.Now())
		doc.Dimension(metrics.DimStage, testStage)
		doc.Put(api.RequestMetrics, api.MetricLatency, 1)
		var buf bytes.Buffer
		metrics.Log(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), slog.LevelInfo, "request", doc, attrs...)
		ft := &fakeT{}
		checkNoTextInDocuments(ft, buf.Bytes(), sig)
		if ft.failed != (attrs != nil) {
			t.Errorf("a document with %v: check failed %v", attrs, ft.failed)
		}
	}
}

type fakeT struct{ failed bool }

func (*fakeT) Helper()                 {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }

// pageStore answers every query with the same page, read from memory.
type pageStore struct{ page messages.Page }

func (m pageStore) List(context.Context, messages.Query) (messages.Page, error) { return m.page, nil }

// lineWriter keeps the size of the last line written.
type lineWriter struct{ last int }

func (w *lineWriter) Write(p []byte) (int, error) { w.last = len(p); return len(p), nil }

// BenchmarkHandlerMetrics is the handler's own cost per request (dependencies
// answered from memory, a page of 50 demo messages) with the EMF document in
// the request line and without; line-bytes is the request line's size (with
// metrics: the whole document), cpu-ns/op the CPU time per request.
//
//	go test ./internal/api -run '^$' -bench HandlerMetrics -benchmem
func BenchmarkHandlerMetrics(b *testing.B) {
	msgs := fixtureMessages(50)
	page := messages.Page{Messages: msgs, Stats: messages.Stats{Calls: 1, ItemsRead: 51, ReadCapacity: 1.5, Path: messages.ReadUnfiltered}}
	ev := authorized(request(window(map[string]string{"limit": "50"})))
	for _, on := range []bool{false, true} {
		name := "off"
		var opts []api.Option
		if on {
			name, opts = "on", []api.Option{api.WithMetrics("prod")}
		}
		b.Run(name, func(b *testing.B) {
			w := &lineWriter{}
			h := api.New(newAccessFake(), pageStore{page}, slog.New(slog.NewJSONHandler(w, nil)), opts...)
			ctx := context.Background()
			b.ReportAllocs()
			cpu := api.CPUTime()
			for b.Loop() {
				if resp, _ := h.Handle(ctx, ev); resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
				}
			}
			api.ReportCPU(b, cpu)
			b.ReportMetric(float64(w.last), "line-bytes")
		})
	}
}
