package access_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/vip-messages/api/internal/access"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

// counting counts BatchGetItem calls and can rewrite their answers.
type counting struct {
	access.DynamoDB
	calls atomic.Int64
	// hook, when set, answers instead of (or after) the real client.
	hook func(ctx context.Context, in *dynamodb.BatchGetItemInput, call int64) (*dynamodb.BatchGetItemOutput, error)
}

func (c *counting) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	n := c.calls.Add(1)
	if c.hook != nil {
		if out, err := c.hook(ctx, in, n); out != nil || err != nil {
			return out, err
		}
	}
	return c.DynamoDB.BatchGetItem(ctx, in, optFns...)
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixture is a table holding:
//
//	ws-vip      VIP, channels ch-on (connected), ch-off (not connected), ch-nobool (no attribute)
//	ws-plain    not VIP, channel ch-on connected
//	ws-novip    no vip attribute
//	ws-strvip   vip stored as the string "true"
type fixture struct {
	db    *counting
	table string
	c     *access.Checker
	clock *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client, tableName := ddbtest.NewTable(t)
	put := func(pk, sk string, attrs map[string]types.AttributeValue) {
		item := map[string]types.AttributeValue{
			table.PartitionKeyAttr: &types.AttributeValueMemberS{Value: pk},
			table.SortKeyAttr:      &types.AttributeValueMemberS{Value: sk},
			"name":                 &types.AttributeValueMemberS{Value: sk},
		}
		for k, v := range attrs {
			item[k] = v
		}
		if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	yes := &types.AttributeValueMemberBOOL{Value: true}
	no := &types.AttributeValueMemberBOOL{Value: false}
	ws := func(id string) string { return table.WorkspacePK(id) }
	put(ws("ws-vip"), table.WorkspaceSK(), map[string]types.AttributeValue{"vip": yes})
	put(ws("ws-vip"), table.ChannelSK("ch-on"), map[string]types.AttributeValue{"connected": yes})
	put(ws("ws-vip"), table.ChannelSK("ch-off"), map[string]types.AttributeValue{"connected": no})
	put(ws("ws-vip"), table.ChannelSK("ch-nobool"), nil)
	put(ws("ws-plain"), table.WorkspaceSK(), map[string]types.AttributeValue{"vip": no})
	put(ws("ws-plain"), table.ChannelSK("ch-on"), map[string]types.AttributeValue{"connected": yes})
	put(ws("ws-novip"), table.WorkspaceSK(), nil)
	put(ws("ws-strvip"), table.WorkspaceSK(), map[string]types.AttributeValue{"vip": &types.AttributeValueMemberS{Value: "true"}})
	// A message partition that must not be mistaken for anything.
	put(table.MessagePK("ws-vip", "ch-on"), table.MessageSK(1, "m1"), nil)

	db := &counting{DynamoDB: client}
	c := access.NewChecker(db, tableName, access.Config{})
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	c.Now = clk.Now
	return &fixture{db: db, table: tableName, c: c, clock: clk}
}

var allKey = auth.Key{ID: "key-all-0001", WorkspaceIDs: []string{"ws-vip", "ws-plain", "ws-novip", "ws-strvip", "ws-missing"}}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		key        auth.Key
		ws, medium string
		want       error
		reads      int64
	}{
		{"VIP workspace, connected channel", allKey, "ws-vip", "ch-on", nil, 1},
		{"key for workspace A asking B", auth.Key{ID: "key-a-000001", WorkspaceIDs: []string{"ws-plain"}}, "ws-vip", "ch-on", access.ErrKeyNotAllowed, 0},
		{"key with no workspaces", auth.Key{ID: "key-none-0001"}, "ws-vip", "ch-on", access.ErrKeyNotAllowed, 0},
		{"workspace id differing in case", allKey, "WS-VIP", "ch-on", access.ErrKeyNotAllowed, 0},
		{"not VIP", allKey, "ws-plain", "ch-on", access.ErrNotVIP, 1},
		{"vip attribute missing", allKey, "ws-novip", "ch-on", access.ErrNotVIP, 1},
		{"vip attribute not a BOOL", allKey, "ws-strvip", "ch-on", access.ErrNotVIP, 1},
		{"unknown workspace", allKey, "ws-missing", "ch-on", access.ErrWorkspaceNotFound, 1},
		{"disconnected channel", allKey, "ws-vip", "ch-off", access.ErrChannelNotFound, 1},
		{"channel without connected attribute", allKey, "ws-vip", "ch-nobool", access.ErrChannelNotFound, 1},
		{"unknown channel", allKey, "ws-vip", "ch-missing", access.ErrChannelNotFound, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.db.calls.Load()
			err := f.c.Check(context.Background(), tt.key, tt.ws, tt.medium)
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := f.db.calls.Load() - before; n != tt.reads {
				t.Fatalf("%d BatchGetItem calls, want %d", n, tt.reads)
			}
		})
	}
}

func TestCacheWithinTTL(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	steps := []struct {
		advance    time.Duration
		ws, medium string
		want       error
		reads      int64
	}{
		{0, "ws-vip", "ch-on", nil, 1},
		{time.Second, "ws-vip", "ch-on", nil, 1},
		{0, "ws-vip", "ch-off", access.ErrChannelNotFound, 2}, // another channel: its own entry
		{58 * time.Second, "ws-vip", "ch-off", access.ErrChannelNotFound, 2},
		{0, "ws-missing", "ch-on", access.ErrWorkspaceNotFound, 3},
		{59 * time.Second, "ws-missing", "ch-on", access.ErrWorkspaceNotFound, 3},
		{0, "ws-vip", "ch-on", nil, 4}, // 60 s after the first read: expired
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		before := f.db.calls.Load()
		// The request's metrics count a hit exactly when nothing was read.
		rec := &metrics.Recorder{}
		if err := f.c.Check(metrics.NewContext(ctx, rec), allKey, s.ws, s.medium); err != s.want {
			t.Fatalf("step %d: err = %v, want %v", i, err, s.want)
		}
		if n := f.db.calls.Load(); n != s.reads {
			t.Fatalf("step %d: %d reads, want %d", i, n, s.reads)
		}
		hit := f.db.calls.Load() == before
		if hit && (rec.WorkspaceCacheHits != 1 || rec.WorkspaceCacheMisses != 0) || !hit && (rec.WorkspaceCacheHits != 0 || rec.WorkspaceCacheMisses != 1) {
			t.Fatalf("step %d: read %v, recorded %+v", i, !hit, *rec)
		}
	}
	// A key not allowed for the workspace looks nothing up: no cache outcome.
	rec := &metrics.Recorder{}
	if err := f.c.Check(metrics.NewContext(ctx, rec), auth.Key{ID: "key-none-0001"}, "ws-vip", "ch-on"); err != access.ErrKeyNotAllowed || *rec != (metrics.Recorder{}) {
		t.Fatalf("not allowed: %v, recorded %+v", err, *rec)
	}
	if got := access.NewChecker(nil, "t", access.Config{TTL: 5 * time.Second}).TTL(); got != 5*time.Second {
		t.Fatalf("configured TTL = %v", got)
	}
	if got := access.NewChecker(nil, "t", access.Config{}).TTL(); got != access.DefaultTTL {
		t.Fatalf("default TTL = %v", got)
	}
}

func TestUnprocessedKeys(t *testing.T) {
	tests := []struct {
		name       string
		unanswered int64 // calls answered with everything unprocessed
		want       error
		wantCalls  int64
	}{
		{"retried until processed", 2, nil, 3},
		{"gives up as unavailable", 100, clienterr.ErrUnavailable, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.db.hook = func(_ context.Context, in *dynamodb.BatchGetItemInput, call int64) (*dynamodb.BatchGetItemOutput, error) {
				if call <= tt.unanswered {
					return &dynamodb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
				}
				return nil, nil
			}
			err := f.c.Check(context.Background(), allKey, "ws-vip", "ch-on")
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := f.db.calls.Load(); n != tt.wantCalls {
				t.Fatalf("%d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

// One item processed, the other left for a second round: both answers count.
func TestPartlyUnprocessed(t *testing.T) {
	f := newFixture(t)
	f.db.hook = func(ctx context.Context, in *dynamodb.BatchGetItemInput, call int64) (*dynamodb.BatchGetItemOutput, error) {
		if call > 1 {
			return nil, nil
		}
		ka := in.RequestItems[f.table]
		first, rest := ka, ka
		first.Keys, rest.Keys = ka.Keys[:1], ka.Keys[1:]
		out, err := f.db.DynamoDB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{f.table: first}})
		if err != nil {
			return nil, err
		}
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{f.table: rest}
		return out, nil
	}
	if err := f.c.Check(context.Background(), allKey, "ws-vip", "ch-on"); err != nil {
		t.Fatal(err)
	}
	if n := f.db.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

func TestDependencyErrors(t *testing.T) {
	closed := func() string { // an address nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}()
	down := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(closed), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	apiErr := func(code string) *counting {
		return &counting{hook: func(context.Context, *dynamodb.BatchGetItemInput, int64) (*dynamodb.BatchGetItemOutput, error) {
			return nil, &smithy.GenericAPIError{Code: code, Message: "injected"}
		}}
	}
	throttled := &counting{hook: func(context.Context, *dynamodb.BatchGetItemInput, int64) (*dynamodb.BatchGetItemOutput, error) {
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}
	}}
	client, _ := ddbtest.NewTable(t)
	tests := []struct {
		name        string
		db          access.DynamoDB
		table       string
		unavailable bool
	}{
		{"connection refused", down, "t", true},
		{"provisioned throughput exceeded", throttled, "t", true},
		{"ThrottlingException", apiErr("ThrottlingException"), "t", true},
		{"RequestLimitExceeded", apiErr("RequestLimitExceeded"), "t", true},
		{"ValidationException is a bug", apiErr("ValidationException"), "t", false},
		{"missing table is a bug", client, "no-such-table", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := access.NewChecker(tt.db, tt.table, access.Config{}).Check(context.Background(), allKey, "ws-vip", "ch-on")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, clienterr.ErrUnavailable) != tt.unavailable {
				t.Fatalf("err = %v; ErrUnavailable = %v, want %v", err, errors.Is(err, clienterr.ErrUnavailable), tt.unavailable)
			}
			for _, verdict := range []error{access.ErrKeyNotAllowed, access.ErrWorkspaceNotFound, access.ErrNotVIP, access.ErrChannelNotFound} {
				if errors.Is(err, verdict) {
					t.Fatalf("dependency error %v reads as %v", err, verdict)
				}
			}
		})
	}
}

// A failed read is not cached: the next request reads again.
func TestErrorsAreNotCached(t *testing.T) {
	f := newFixture(t)
	f.db.hook = func(_ context.Context, _ *dynamodb.BatchGetItemInput, call int64) (*dynamodb.BatchGetItemOutput, error) {
		if call == 1 {
			return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}
		}
		return nil, nil
	}
	if err := f.c.Check(context.Background(), allKey, "ws-vip", "ch-on"); !errors.Is(err, clienterr.ErrUnavailable) {
		t.Fatalf("first: %v", err)
	}
	if err := f.c.Check(context.Background(), allKey, "ws-vip", "ch-on"); err != nil {
		t.Fatalf("second: %v", err)
	}
}
