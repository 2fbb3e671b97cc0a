package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/sampleevent"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/contract"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// This package is the end-to-end test: make run's stack (devstack, the
// handler loaded from the environment as the Lambda loads it, the local
// gateway, the label indexer on the table's stream), seeded once and shared
// by every test, and the built functions under aws-lambda-rie (rie_test.go),
// built once.
func TestMain(m *testing.M) {
	code := ddbtest.Main(m)
	shared.stop()
	removeLambdas()
	os.Exit(code)
}

// e2eStack is make run's stack in process, on the test binary's DynamoDB Local
// and a free Secrets Manager port.
type e2eStack struct {
	*devstack.Stack
	url  string           // the API's base URL (the gateway's path follows)
	logs *testproc.Buffer // the label indexer's log, debug level
}

var shared struct {
	once  sync.Once
	stack *e2eStack
	err   error
	stop  func()
}

func init() { shared.stop = func() {} }

// stack returns the package's stack, started on first use: make run's table,
// prefix and demo key, the demo data around now, the indexer caught up with it.
func stack(t testing.TB) *e2eStack {
	t.Helper()
	endpoint := ddbtest.Endpoint(t)
	shared.once.Do(func() { shared.stack, shared.err = startStack(endpoint) })
	if shared.err != nil {
		t.Fatalf("the shared stack: %v", shared.err)
	}
	return shared.stack
}

func startStack(endpoint string) (_ *e2eStack, err error) {
	// No deadline of its own: seeding and the catch-up under -race on a busy
	// machine take what they take; go test's -timeout bounds them.
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{DynamoEndpoint: endpoint, FreePorts: true, Table: devstack.Table,
		SeedNow: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	// Binaries share one DynamoDB Local under make test, which slows down as
	// it fills: the table goes when the package is done.
	stops := []func(){func() { deleteTables(st.DynamoDB(), st.Table) }, st.Close}
	shared.stop = func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	// The Lambda's path: configuration from the environment, with the SDK's
	// endpoint overrides, and nothing of this machine's AWS setup.
	for k, v := range st.Env() {
		os.Setenv(k, v)
	}
	os.Setenv("AWS_CONFIG_FILE", filepath.Join(os.TempDir(), "e2e-no-aws-config"))
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(os.TempDir(), "e2e-no-aws-credentials"))
	os.Unsetenv("AWS_PROFILE")
	api, err := localAPI(ctx, os.Getenv, io.Discard, gateway.Options{})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api)
	stops = append(stops, srv.Close)

	logs := &testproc.Buffer{}
	indexer, err := st.LabelIndexer(ctx, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		return nil, err
	}
	ictx, stopIndexer := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- indexer.Run(ictx) }()
	stops = append(stops, func() {
		stopIndexer()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "label indexer:", err)
		}
	})
	// A precondition, not a timing: every record of the demo data is indexed.
	<-indexer.CaughtUp()
	return &e2eStack{Stack: st, url: srv.URL, logs: logs}, nil
}

// sampleAnchor is the x-date of events/list.json.
func sampleAnchor() (time.Time, error) {
	path, err := repo.Path("events/list.json")
	if err != nil {
		return time.Time{}, err
	}
	ev, err := sampleevent.Load(path)
	if err != nil {
		return time.Time{}, err
	}
	return sampleevent.Date(ev)
}

// demoRequest is a GET of u signed (v1) as the demo key, x-date now.
func demoRequest(u string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	date := time.Now().UTC().Format(time.RFC3339)
	req.Header.Set("x-api-key", devstack.DemoKeyID)
	req.Header.Set("x-date", date)
	req.Header.Set("x-signature", auth.Sign(devstack.DemoSecret, date))
	return req
}

func get(t testing.TB, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(demoRequest(u))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// walk returns "conversationId|text" of every item of every page of q,
// newest first, each page checked against openapi.yaml.
func walk(t testing.TB, base string, q url.Values) []string {
	t.Helper()
	var out []string
	for page := 0; ; page++ {
		if page > 200 {
			t.Fatal("the walk does not end")
		}
		u := base + gateway.VipMessages.Path + "?" + q.Encode()
		status, header, body := get(t, u)
		contract.Check(t, u, status, header, body)
		if status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, status, body)
		}
		var p struct {
			Items []struct {
				ConversationID string
				Text           string
			}
			MayHaveMore bool
			NextCursor  string
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			out = append(out, it.ConversationID+"|"+it.Text)
		}
		if !p.MayHaveMore {
			return out
		}
		q.Set("before", p.NextCursor)
	}
}

// The local API end to end: real HTTP requests through the gateway to the
// handler loaded from the environment, a walk of every page of the demo
// channel's last 20 days.
func TestServeWalksDemoChannel(t *testing.T) {
	s := stack(t)
	from := s.SeedNow.UTC().AddDate(0, 0, -20).Format(time.DateOnly)
	to := s.SeedNow.UTC().Format(time.DateOnly)
	var want []table.Message
	lo, _ := time.Parse(time.DateOnly, from)
	hi, _ := time.Parse(time.DateOnly, to)
	for _, m := range seed.Demo(s.SeedNow).Messages[0].Messages {
		if m.Timestamp >= lo.UnixMilli() && m.Timestamp < hi.AddDate(0, 0, 1).UnixMilli() {
			want = append(want, m)
		}
	}
	slices.SortFunc(want, func(a, b table.Message) int {
		return strings.Compare(table.MessageSK(b.Timestamp, b.MessageID), table.MessageSK(a.Timestamp, a.MessageID))
	})
	if len(want) < 500 {
		t.Fatalf("the window holds only %d seeded messages", len(want))
	}
	var wantKeys []string
	for _, m := range want {
		wantKeys = append(wantKeys, m.ConversationID+"|"+m.Text)
	}
	got := walk(t, s.url, url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "from": {from}, "to": {to}, "limit": {"97"}})
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("walk returned %d messages, want %d in newest-first order", len(got), len(wantKeys))
	}

	// Anything but GET /vip-messages answers as the deployed stage's gateway response does.
	if status, _, body := get(t, s.url+"/other"); status != http.StatusNotFound || !strings.Contains(string(body), "not found: this API serves GET /vip-messages and GET /vip-messages/labels only") {
		t.Fatalf("unknown path: %d %s", status, body)
	}
}

// labelWindow is where the label tests write: days the demo channel walk
// above does not read.
func (s *e2eStack) labelWindow() (from, to time.Time) {
	return s.SeedNow.UTC().AddDate(0, 0, -28), s.SeedNow.UTC().AddDate(0, 0, -24)
}

func (s *e2eStack) put(tb testing.TB, m table.Message) {
	tb.Helper()
	item, err := m.Item(seed.DemoWorkspace, seed.DemoChannel)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DynamoDB().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		tb.Fatal(err)
	}
}

// labelWalk returns the texts of every message a label walk through the API
// returns in the label window, newest first.
func (s *e2eStack) labelWalk(tb testing.TB, label string) []string {
	tb.Helper()
	from, to := s.labelWindow()
	var out []string
	for _, k := range walk(tb, s.url, url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "label": {label}, "limit": {"2"},
		"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}) {
		_, text, _ := strings.Cut(k, "|")
		out = append(out, text)
	}
	return out
}

// eventually polls the label walk until it returns want: the indexer is
// asynchronous, and how soon is BenchmarkWriteToLabelQuery's to measure, so
// only go test's -timeout bounds the wait.
func (s *e2eStack) eventually(t *testing.T, label string, want []string) {
	t.Helper()
	start := time.Now()
	for {
		got := s.labelWalk(t, label)
		if slices.Equal(got, want) {
			t.Logf("label %q: the walk returned the writes after %s", label, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Messages written straight into the table, as an ingestion pipeline would,
// reach label walks through the API; so do a relabel and a delete.
func TestLabelWalkFollowsPlainWrites(t *testing.T) {
	s := stack(t)
	from, _ := s.labelWindow()
	base := from.Add(24 * time.Hour).UnixMilli()
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
	ddb := s.DynamoDB()
	if _, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table), Key: key(msgs[1]),
		UpdateExpression:          aws.String("SET labels = :l"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "relabelled"}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.Table), Key: key(msgs[3])}); err != nil {
		t.Fatal(err)
	}
	s.eventually(t, "plain-written", texts(0, 2, 4))
	s.eventually(t, "relabelled", texts(1))

	// The lag shows in the indexer's debug log.
	if !strings.Contains(s.logs.String(), `"lagMaxMs"`) {
		t.Fatalf("no lag in the indexer's debug log:\n%.2000s", s.logs.String())
	}
}

// The lag from a write (PutItem returned) to the message's appearance in a
// label query through the API, on make run's stack: the poller's polls, the
// template's batching window, the indexer's writes.
//
//	go test -run '^$' -bench WriteToLabelQuery -benchtime 50x ./cmd/localstack
func BenchmarkWriteToLabelQuery(b *testing.B) {
	s := stack(b)
	from, _ := s.labelWindow()
	base := from.Add(48 * time.Hour).UnixMilli()
	var lags []time.Duration
	i := 0
	for b.Loop() {
		i++
		label := fmt.Sprintf("lag-%d-%d", time.Now().UnixNano(), i)
		s.put(b, table.Message{MessageID: label, Timestamp: base + int64(i), ConversationID: "conv-lag",
			UserName: "bench", Kind: "text", Source: "bench", Labels: []string{label}, CustomLabelIDs: []string{}, Text: label})
		written := time.Now()
		for len(s.labelWalk(b, label)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		lags = append(lags, time.Since(written))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(lags[0].Microseconds())/1000, "min-ms")
}

// deleteTables deletes the named tables, and every table whose name starts
// with one ending in "*".
func deleteTables(ddb *dynamodb.Client, names ...string) {
	ctx := context.Background()
	var all []string
	p := dynamodb.NewListTablesPaginator(ddb, &dynamodb.ListTablesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		all = append(all, out.TableNames...)
	}
	for _, t := range all {
		for _, n := range names {
			if prefix, ok := strings.CutSuffix(n, "*"); t == n || ok && strings.HasPrefix(t, prefix) {
				_, _ = ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
			}
		}
	}
}
