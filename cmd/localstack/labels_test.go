package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/local/contract"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/table"
)

// labelStack is make run's stack in process on free ports: devstack, the API
// behind the local gateway, and the label indexer on the stream, caught up
// with the demo data.
type labelStack struct {
	url   string
	ddb   *dynamodb.Client
	table string
	now   time.Time
	logs  *syncBuffer // the indexer's log, debug level
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startLabelStack(tb testing.TB, table string) *labelStack {
	tb.Helper()
	now := time.Now()
	stack, err := devstack.Start(context.Background(), devstack.Options{
		DynamoEndpoint: ddbtest.Endpoint(tb), FreePorts: true, Table: table, SeedNow: now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stack.Close)
	for k, v := range stack.Env() {
		tb.Setenv(k, v)
	}
	h, err := app.Load(context.Background(), os.Getenv, &syncBuffer{})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(gateway.New(gateway.VipMessages, h.Handle))
	tb.Cleanup(srv.Close)

	logs := &syncBuffer{}
	indexer, err := stack.LabelIndexer(context.Background(), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- indexer.Run(ctx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("indexer: %v", err)
		}
	})
	// A precondition, not a timing: the demo data's records are all indexed.
	select {
	case <-indexer.CaughtUp():
	case <-time.After(2 * time.Minute):
		tb.Fatal("the label indexer did not catch up with the demo data")
	}
	return &labelStack{url: srv.URL, ddb: stack.DynamoDB(), table: stack.Table, now: now, logs: logs}
}

func (s *labelStack) put(tb testing.TB, m table.Message) {
	tb.Helper()
	item, err := m.Item(seed.DemoWorkspace, seed.DemoChannel)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		tb.Fatal(err)
	}
}

// walk returns the texts of every message a label walk through the API
// returns, newest first.
func (s *labelStack) walk(tb testing.TB, label string) []string {
	tb.Helper()
	q := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "label": {label}, "limit": {"2"},
		"from": {s.now.UTC().AddDate(0, 0, -30).Format(time.DateOnly)}, "to": {s.now.UTC().Format(time.DateOnly)}}
	var out []string
	for page := 0; ; page++ {
		if page > 100 {
			tb.Fatal("the walk does not end")
		}
		u := s.url + "/vip-messages?" + q.Encode()
		status, header, body := get(tb, u)
		contract.Check(tb, u, status, header, body)
		if status != http.StatusOK {
			tb.Fatalf("%d %s", status, body)
		}
		var p struct {
			Items []struct {
				Text string
			}
			MayHaveMore bool
			NextCursor  string
		}
		if err := json.Unmarshal(body, &p); err != nil {
			tb.Fatal(err)
		}
		for _, it := range p.Items {
			out = append(out, it.Text)
		}
		if !p.MayHaveMore {
			return out
		}
		q.Set("before", p.NextCursor)
	}
}

// eventually polls the walk until it returns want, for at most 5 s (the
// issue's bound; no finer timing is asserted).
func (s *labelStack) eventually(t *testing.T, label string, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.walk(t, label)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("label %q: the walk returns %q, want %q within 5 s", label, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Messages written straight into the table, as an ingestion pipeline would,
// reach label walks through the API; so do a relabel and a delete.
func TestLabelWalkFollowsPlainWrites(t *testing.T) {
	s := startLabelStack(t, "labels")
	base := s.now.Add(-48 * time.Hour).UnixMilli()
	var msgs []table.Message
	for i := range 5 {
		m := table.Message{MessageID: fmt.Sprintf("plain-%d", i), Timestamp: base + int64(i)*60_000,
			ConversationID: "conv-plain", UserName: "pipeline", Kind: "text", Source: "ingest",
			Labels: []string{"plain-written"}, CustomLabelIDs: []string{}, Text: fmt.Sprintf("plain write %d", i)}
		if i == 2 {
			m.CustomLabelIDs = []string{"cl-plain"}
		}
		msgs = append(msgs, m)
		s.put(t, m)
	}
	texts := func(ids ...int) []string { // newest first
		var out []string
		for i := len(msgs) - 1; i >= 0; i-- {
			if slices.Contains(ids, i) {
				out = append(out, msgs[i].Text)
			}
		}
		return out
	}
	s.eventually(t, "plain-written", texts(0, 1, 2, 3, 4))
	s.eventually(t, "cl-plain", texts(2))

	// Relabel message 1 (the AI labelling's UpdateItem) and delete message 3.
	key := func(m table.Message) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			table.PartitionKeyAttr: &types.AttributeValueMemberS{Value: table.MessagePK(seed.DemoWorkspace, seed.DemoChannel)},
			table.SortKeyAttr:      &types.AttributeValueMemberS{Value: table.MessageSK(m.Timestamp, m.MessageID)},
		}
	}
	ctx := context.Background()
	if _, err := s.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(msgs[1]),
		UpdateExpression:          aws.String("SET labels = :l"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "relabelled"}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(msgs[3])}); err != nil {
		t.Fatal(err)
	}
	s.eventually(t, "plain-written", texts(0, 2, 4))
	s.eventually(t, "relabelled", texts(1))

	// The lag shows in the indexer's debug log.
	if !strings.Contains(s.logs.String(), `"lagMaxMs"`) {
		t.Fatalf("no lag in the indexer's debug log:\n%s", s.logs.String())
	}
}

// The lag from a write (PutItem returned) to the message's appearance in a
// label query through the API, on make run's stack: the poller's 250 ms
// polls, the template's 1 s batching window, the indexer's writes.
//
//	go test -run '^$' -bench WriteToLabelQuery -benchtime 50x ./cmd/localstack
func BenchmarkWriteToLabelQuery(b *testing.B) {
	s := startLabelStack(b, "lag")
	base := s.now.Add(-24 * time.Hour).UnixMilli()
	var lags []time.Duration
	i := 0
	for b.Loop() {
		i++
		label := fmt.Sprintf("lag-%d", i)
		s.put(b, table.Message{MessageID: fmt.Sprintf("lag-%d", i), Timestamp: base + int64(i), ConversationID: "conv-lag",
			UserName: "bench", Kind: "text", Source: "bench", Labels: []string{label}, CustomLabelIDs: []string{}, Text: label})
		written := time.Now()
		for len(s.walk(b, label)) == 0 {
			if time.Since(written) > 30*time.Second {
				b.Fatalf("%s not visible after 30 s", label)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lags = append(lags, time.Since(written))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(lags[0].Microseconds())/1000, "min-ms")
}
