package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/roundtrip"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/table"
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
	stack, _ := stacktest.API(b)
	now := stack.SeedNow
	for k, v := range stack.Env() {
		b.Setenv(k, v)
	}
	for k, v := range env {
		b.Setenv(k, v)
	}
	h, err := app.Load(context.Background(), os.Getenv, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gateway.New(gateway.VipMessages, h.Handle))
	b.Cleanup(srv.Close)
	from := now.UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	until := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {from.Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	return &perfStack{stack: stack, url: srv.URL + "/vip-messages?" + q.Encode(), from: from, until: until}
}

// page sends one signed request and returns how long the answer took.
func (p *perfStack) page(b *testing.B, client *http.Client) time.Duration {
	req, _ := http.NewRequest(http.MethodGet, p.url, nil)
	date := time.Now().UTC().Format(time.RFC3339)
	req.Header.Set("x-api-key", devstack.DemoKeyID)
	req.Header.Set("x-date", date)
	req.Header.Set("x-signature", auth.Sign(devstack.DemoSecret, date))
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
// with the bare DynamoDB Query that page needs (51 items, newest first, the same
// window), alternating one of each, and reports both medians and their ratio.
//
//	go test -run '^$' -bench WarmPageVsQuery -benchtime 300x ./cmd/localstack
func BenchmarkWarmPageVsQuery(b *testing.B) {
	p := startPerfStack(b, nil)
	ddb := p.stack.DynamoDB()
	query := &dynamodb.QueryInput{
		TableName:              aws.String(p.stack.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: table.MessagePK(seed.DemoWorkspace, seed.DemoChannel)},
			":lo": &types.AttributeValueMemberS{Value: table.MessageSK(p.from.UnixMilli(), "")},
			":hi": &types.AttributeValueMemberS{Value: table.MessageSK(p.until.UnixMilli(), "")},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(51),
	}
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
		p.page(b, client)
		bare()
	}
	var api, raw []time.Duration
	b.ResetTimer()
	for b.Loop() {
		api = append(api, p.page(b, client))
		raw = append(raw, bare())
	}
	mAPI, mRaw := median(api), median(raw)
	b.ReportMetric(float64(mAPI.Microseconds())/1000, "api-p50-ms")
	b.ReportMetric(float64(mRaw.Microseconds())/1000, "query-p50-ms")
	b.ReportMetric(float64(mAPI)/float64(mRaw), "ratio")
}

// BenchmarkRoundTrips counts the dependency round trips on the critical path of
// a cold request (a new instance: every cache empty) and of a warm one, with a
// recording proxy in front of DynamoDB Local and the local Secrets Manager that
// adds 20 ms to every call, so a saved round trip also shows as ~20 ms.
//
//	go test -run '^$' -bench RoundTrips -benchtime 20x ./cmd/localstack
func BenchmarkRoundTrips(b *testing.B) {
	const delay = 20 * time.Millisecond
	stack, _ := stacktest.API(b)
	now := stack.SeedNow
	ddbRec, err := roundtrip.NewRecorder(stack.DynamoEndpoint, delay)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ddbRec.Close)
	smRec, err := roundtrip.NewRecorder(stack.SecretsEndpoint, delay)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(smRec.Close)
	env := stack.Env()
	env["AWS_ENDPOINT_URL_DYNAMODB"] = ddbRec.URL
	env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = smRec.URL
	for k, v := range env {
		b.Setenv(k, v)
	}
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {now.UTC().AddDate(0, 0, -30).Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	target := "/vip-messages?" + q.Encode()
	client := &http.Client{}

	request := func(srv *httptest.Server) (calls []roundtrip.Call, took time.Duration) {
		ddbRec.Reset()
		smRec.Reset()
		p := &perfStack{url: srv.URL + target}
		took = p.page(b, client)
		return append(ddbRec.Calls(), smRec.Calls()...), took
	}
	var cold, warm []int
	var coldTook, warmTook []time.Duration
	for b.Loop() {
		h, err := app.Load(context.Background(), os.Getenv, io.Discard) // a new instance
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(gateway.New(gateway.VipMessages, h.Handle))
		calls, took := request(srv)
		cold = append(cold, roundtrip.CriticalPath(calls))
		coldTook = append(coldTook, took)
		calls, took = request(srv)
		warm = append(warm, roundtrip.CriticalPath(calls))
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
// 50-item page against DynamoDB Local: the cost of our own code per request,
// with -benchmem for allocations and -cpuprofile for where the time goes.
//
//	go test -run '^$' -bench HandlerWarmPage -benchmem -benchtime 500x ./cmd/localstack
func BenchmarkHandlerWarmPage(b *testing.B) {
	p := startPerfStack(b, nil)
	h, err := app.Load(context.Background(), os.Getenv, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(p.url)
	ev := gateway.Event(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, RemoteAddr: "127.0.0.1:1"}, gateway.VipMessages, nil)
	sign := func() {
		date := time.Now().UTC().Format(time.RFC3339)
		ev.Headers = map[string]string{"x-api-key": devstack.DemoKeyID, "x-date": date, "x-signature": auth.Sign(devstack.DemoSecret, date)}
		ev.MultiValueHeaders = map[string][]string{"x-api-key": {devstack.DemoKeyID}, "x-date": {date}, "x-signature": {auth.Sign(devstack.DemoSecret, date)}}
	}
	sign()
	for range 50 {
		if resp, _ := h.Handle(context.Background(), ev); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
	signed := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if time.Since(signed) > 10*time.Second {
			b.StopTimer()
			sign()
			signed = time.Now()
			b.StartTimer()
		}
		if resp, _ := h.Handle(context.Background(), ev); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
