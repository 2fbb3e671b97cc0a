package main

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
)

// BenchmarkLocalAPIPage is one warm 50-item page through the local API: HTTP,
// the gateway, the handler (signature check with a cached key, cached access
// check) and DynamoDB Local. It reports the median besides the mean.
//
//	go test -run '^$' -bench LocalAPIPage -benchtime 200x ./cmd/localstack
func BenchmarkLocalAPIPage(b *testing.B) {
	stack, base := stacktest.API(b)
	now := stack.SeedNow
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {now.UTC().AddDate(0, 0, -30).Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	u := base + gateway.VipMessages.Path + "?" + q.Encode()

	page := func() time.Duration {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		date := time.Now().UTC().Format(time.RFC3339)
		req.Header.Set("x-api-key", devstack.DemoKeyID)
		req.Header.Set("x-date", date)
		req.Header.Set("x-signature", auth.Sign(devstack.DemoSecret, date))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for range 20 { // warm: key and access caches, connections, JIT of DynamoDB Local
		page()
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		took = append(took, page())
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
