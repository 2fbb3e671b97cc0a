package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
)

// BenchmarkLocalAPIPage is one warm 50-item page through the local API: HTTP,
// the gateway, the handler (signature check with a cached key, cached access
// check) and DynamoDB Local. It reports the median besides the mean.
//
//	go test -run '^$' -bench LocalAPIPage -benchtime 200x ./cmd/localstack
func BenchmarkLocalAPIPage(b *testing.B) {
	s := stack(b)
	now, base := s.SeedNow, s.url
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "limit": {"50"},
		"from": {now.UTC().AddDate(0, 0, -30).Format(time.DateOnly)}, "to": {now.UTC().Format(time.DateOnly)}}
	u := base + gateway.VipMessages.Path + "?" + q.Encode()

	page := func() time.Duration { return timedPage(b, http.DefaultClient, u) }
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
