package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
)

// perfStack is the local stack with the API served over HTTP, for benchmarks.
type perfStack struct {
	stack *devstack.Stack
	url   string // a 50-item page of the demo channel's last 30 days
	from  time.Time
	until time.Time
}

func startPerfStack(b *testing.B, env map[string]string) *perfStack {
	b.Helper()
	st := stack(b)
	now := st.SeedNow
	for k, v := range st.Env() {
		b.Setenv(k, v)
	}
	for k, v := range env {
		b.Setenv(k, v)
	}
	api, err := localAPI(context.Background(), os.Getenv, io.Discard, gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api)
	b.Cleanup(srv.Close)
	from := now.UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	until := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {from.Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	return &perfStack{stack: st.Stack, url: srv.URL + "/vip-messages?" + q.Encode(), from: from, until: until}
}

// timedPage sends one signed request for u and returns how long the 200 took.
func timedPage(b *testing.B, client *http.Client, u string) time.Duration {
	req := demoRequest(u)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return took
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkWarmPageVsQuery puts a warm 50-item page through the local API
// (HTTP, the gateway, the handler with warm caches, DynamoDB Local) side by side
// with the bare DynamoDB Query that page sends, alternating one of each, and
// reports both medians and their ratio: our overhead over the Query we wrap.
// The bare Query is the page's own (sameQuery checks it against what the
// handler sends), so both ask DynamoDB Local for the same work.
//
//	go test -run '^$' -bench WarmPageVsQuery -benchtime 300x ./cmd/localstack
func BenchmarkWarmPageVsQuery(b *testing.B) {
	p := startPerfStack(b, nil)
	ddb := p.stack.DynamoDB()
	query := p.pageQuery(b)
	p.sameQuery(b, query)
	bare := func() time.Duration {
		start := time.Now()
		out, err := ddb.Query(context.Background(), query)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if len(out.Items) != 51 {
			b.Fatalf("the bare query read %d items, want 51", len(out.Items))
		}
		return took
	}
	client := &http.Client{}
	for range 50 { // warm: caches, connections, DynamoDB Local's JIT
		timedPage(b, client, p.url)
		bare()
	}
	var api, raw []time.Duration
	b.ResetTimer()
	for b.Loop() {
		api = append(api, timedPage(b, client, p.url))
		raw = append(raw, bare())
	}
	mAPI, mRaw := median(api), median(raw)
	b.ReportMetric(float64(mAPI.Microseconds())/1000, "api-p50-ms")
	b.ReportMetric(float64(mRaw.Microseconds())/1000, "query-p50-ms")
	b.ReportMetric(float64(mAPI)/float64(mRaw), "ratio")
}

// queryCapture keeps a copy of the last Query input it passes on.
type queryCapture struct {
	messages.QueryAPI
	last *dynamodb.QueryInput
}

func (c *queryCapture) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	cp := *in
	c.last = &cp
	return c.QueryAPI.Query(ctx, in, opts...)
}

// pageQuery is the Query input messages.Store sends for the benchmark's page
// (the window of p.url, 50 items), taken from the Store itself.
func (p *perfStack) pageQuery(b *testing.B) *dynamodb.QueryInput {
	b.Helper()
	capture := &queryCapture{QueryAPI: p.stack.DynamoDB()}
	store := messages.NewStore(capture, p.stack.Table, messages.Budget{})
	page, err := store.List(context.Background(), messages.Query{
		WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoChannel, From: p.from, Until: p.until, Limit: 50})
	if err != nil || page.Stats.Calls != 1 || capture.last == nil {
		b.Fatalf("the page took %d Query calls (%v), want 1", page.Stats.Calls, err)
	}
	return capture.last
}

// sameQuery fails unless query is, as sent, the Query the handler sends for
// a warm page of p.url: both go through a recording proxy once and their
// JSON inputs must be equal.
func (p *perfStack) sameQuery(b *testing.B, query *dynamodb.QueryInput) {
	b.Helper()
	rec, err := NewRecorder(p.stack.DynamoEndpoint, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	b.Setenv("AWS_ENDPOINT_URL_DYNAMODB", rec.URL)
	h, err := app.Load(context.Background(), os.Getenv, io.Discard)
	b.Setenv("AWS_ENDPOINT_URL_DYNAMODB", p.stack.DynamoEndpoint)
	if err != nil {
		b.Fatal(err)
	}
	ev := p.event()
	for range 2 { // the second is warm: one call, the Query
		rec.Reset()
		if resp, _ := h.Handle(context.Background(), ev); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
	sent := rec.Calls()
	rec.Reset()
	_, err = p.stack.DynamoDB().Query(context.Background(), query, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(rec.URL) })
	if err != nil {
		b.Fatal(err)
	}
	bare := rec.Calls()
	if len(sent) != 1 || len(bare) != 1 || !strings.HasSuffix(sent[0].Op, ".Query") {
		b.Fatalf("a warm page made calls %v, the bare Query %v; want one Query each", ops(sent), ops(bare))
	}
	var page, own any
	if json.Unmarshal(sent[0].Body, &page) != nil || json.Unmarshal(bare[0].Body, &own) != nil || !reflect.DeepEqual(page, own) {
		b.Fatalf("the bare Query is not the page's:\npage %s\nbare %s", sent[0].Body, bare[0].Body)
	}
}

func ops(calls []Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Op)
	}
	return out
}

// event is the proxy event of a signed request for p.url, as the handler
// gets it: with the authorizer's context for the demo key.
func (p *perfStack) event() events.APIGatewayProxyRequest {
	u, _ := url.Parse(p.url)
	ev := gateway.Event(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, RemoteAddr: "127.0.0.1:1"}, gateway.VipMessages, nil)
	date := time.Now().UTC().Format(time.RFC3339)
	ev.Headers = map[string]string{"x-api-key": devstack.DemoKeyID, "x-date": date, "x-signature": auth.Sign(devstack.DemoSecret, date)}
	ev.MultiValueHeaders = map[string][]string{"x-api-key": {devstack.DemoKeyID}, "x-date": {date}, "x-signature": {auth.Sign(devstack.DemoSecret, date)}}
	return authorizer.WithContext(ev, authorizer.Allow(gateway.MethodArn(gateway.VipMessages), demoKey))
}

// demoKey is the demo key as the authorizer passes it on.
var demoKey = auth.Key{ID: devstack.DemoKeyID, WorkspaceIDs: []string{seed.DemoWorkspace, seed.DemoBasicWorkspace}}

// BenchmarkRoundTrips counts the dependency round trips on the critical path of
// a cold request through both functions (new instances of the authorizer and
// the handler: every cache empty) and of a warm one, with a recording proxy in
// front of DynamoDB Local and the local Secrets Manager that adds 20 ms to
// every call, so a saved round trip also shows as ~20 ms. The authorizer's
// Secrets Manager call and the handler's DynamoDB calls are one after the
// other, as on a stage.
//
//	go test -run '^$' -bench RoundTrips -benchtime 20x ./cmd/localstack
func BenchmarkRoundTrips(b *testing.B) {
	const delay = 20 * time.Millisecond
	st := stack(b)
	now := st.SeedNow
	ddbRec, err := NewRecorder(st.DynamoEndpoint, delay)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ddbRec.Close)
	smRec, err := NewRecorder(st.SecretsEndpoint, delay)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(smRec.Close)
	env := st.Env()
	env["AWS_ENDPOINT_URL_DYNAMODB"] = ddbRec.URL
	env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = smRec.URL
	for k, v := range env {
		b.Setenv(k, v)
	}
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {now.UTC().AddDate(0, 0, -30).Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	target := "/vip-messages?" + q.Encode()
	client := &http.Client{}

	request := func(srv *httptest.Server) (calls []Call, took time.Duration) {
		ddbRec.Reset()
		smRec.Reset()
		took = timedPage(b, client, srv.URL+target)
		return append(ddbRec.Calls(), smRec.Calls()...), took
	}
	var cold, warm []int
	var coldTook, warmTook []time.Duration
	for b.Loop() {
		api, err := localAPI(context.Background(), os.Getenv, io.Discard, gateway.Options{}) // new instances
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(api)
		calls, took := request(srv)
		cold = append(cold, CriticalPath(calls))
		coldTook = append(coldTook, took)
		calls, took = request(srv)
		warm = append(warm, CriticalPath(calls))
		warmTook = append(warmTook, took)
		srv.Close()
	}
	slices.Sort(cold)
	slices.Sort(warm)
	b.ReportMetric(float64(cold[len(cold)/2]), "cold-roundtrips")
	b.ReportMetric(float64(cold[len(cold)-1]), "cold-roundtrips-max")
	b.ReportMetric(float64(median(coldTook).Microseconds())/1000, "cold-p50-ms")
	b.ReportMetric(float64(warm[len(warm)/2]), "warm-roundtrips")
	b.ReportMetric(float64(warm[len(warm)-1]), "warm-roundtrips-max")
	b.ReportMetric(float64(median(warmTook).Microseconds())/1000, "warm-p50-ms")
}

// BenchmarkHandlerWarmPage calls the handler directly (no HTTP) for a warm
// 50-item page against DynamoDB Local ("handler"), and sends the bare Query
// that page sends ("query"): the difference is the cost of our own code per
// request. -benchmem gives allocations, cpu-ns/op this process's CPU time per
// request (DynamoDB Local runs in another process, so neither counts its
// work): on a loaded machine ns/op mostly measures waiting, cpu-ns/op does
// not. -cpuprofile shows where the time goes.
//
//	go test -run '^$' -bench HandlerWarmPage -benchmem -benchtime 500x ./cmd/localstack
func BenchmarkHandlerWarmPage(b *testing.B) {
	p := startPerfStack(b, nil)
	h, err := app.Load(context.Background(), os.Getenv, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	query := p.pageQuery(b)
	ddb := p.stack.DynamoDB()
	ev := p.event()
	for range 50 {
		if resp, _ := h.Handle(context.Background(), ev); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
	b.Run("handler", func(b *testing.B) {
		signed := time.Now()
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if time.Since(signed) > 10*time.Second {
				b.StopTimer()
				ev = p.event() // a fresh x-date
				signed = time.Now()
				b.StartTimer()
			}
			if resp, _ := h.Handle(context.Background(), ev); resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("query", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := ddb.Query(context.Background(), query); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuthorizerHop is the warm cost of the authorizer on the local path:
// the same warm 50-item page through the local gateway with the real
// authorizer (signature check, cached key) and with an authorizer that allows
// the demo key without looking, alternating one of each, with both medians
// and their ratio. Locally the hop is a function call; on a stage it is also
// a Lambda invocation (docs/performance.md).
//
//	go test -run '^$' -bench AuthorizerHop -benchtime 300x ./cmd/localstack
func BenchmarkAuthorizerHop(b *testing.B) {
	p := startPerfStack(b, nil)
	h, err := app.Load(context.Background(), os.Getenv, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	allow := func(_ context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return authorizer.Allow(ev.MethodArn, demoKey), nil
	}
	without := httptest.NewServer(gateway.NewWithOptions(gateway.VipMessages, h.Handle, gateway.Options{Authorizer: allow}))
	b.Cleanup(without.Close)
	withURL := p.url
	withoutURL := without.URL + strings.TrimPrefix(p.url, p.url[:strings.Index(p.url, "/vip-messages")])
	client := &http.Client{}
	for range 20 { // warm both: keys, workspaces, connections
		timedPage(b, client, withURL)
		timedPage(b, client, withoutURL)
	}
	var with, bare []time.Duration
	for b.Loop() {
		with = append(with, timedPage(b, client, withURL))
		bare = append(bare, timedPage(b, client, withoutURL))
	}
	mw, mb := median(with), median(bare)
	b.ReportMetric(float64(mw.Microseconds())/1000, "with-authorizer-p50-ms")
	b.ReportMetric(float64(mb.Microseconds())/1000, "without-p50-ms")
	b.ReportMetric(float64(mw-mb)/float64(time.Microsecond), "hop-p50-us")
	b.ReportMetric(float64(mw)/float64(mb), "ratio")
}
