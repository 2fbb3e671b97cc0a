package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	schema "github.com/vip-messages/api/internal/table"
)

// TestIndexRebuild backfills a channel written without index items (as data
// from before the index), interrupted by a bad page size first, then resumed
// from a token, and checks every label walk through the index against the
// FilterExpression walk of the same table.
func TestIndexRebuild(t *testing.T) {
	getenv := vars(t)
	stack := local(t)
	db := stack.DynamoDB()
	const medium = "ch-preindex"
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(31 * 24 * time.Hour)
	msgs := seed.Generate(rand.New(rand.NewPCG(77, 77)), from, until, 90)
	for _, m := range msgs {
		item, err := m.Item(seed.DemoWorkspace, medium)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(stack.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	index := messages.NewStore(db, stack.Table, messages.Budget{})
	filter := messages.NewStore(db, stack.Table, messages.Budget{}, messages.WithLabelPath(messages.LabelViaFilter))
	labelWalk := func(s *messages.Store, label string) []string {
		q := messages.Query{WorkspaceID: seed.DemoWorkspace, MediumID: medium, From: from, Until: until, Label: label, Limit: 13}
		var ids []string
		for {
			p, err := s.List(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range p.Messages {
				ids = append(ids, m.MessageID)
			}
			if !p.MayHaveMore {
				return ids
			}
			q.Before = p.Next
		}
	}
	if got := labelWalk(index, "frustrated"); len(got) != 0 {
		t.Fatalf("index before the rebuild: %v", got)
	}

	args := []string{"index", "rebuild", "--workspace", seed.DemoWorkspace, "--medium", medium, "--page-size", "20"}
	// Not registered yet: the rebuild says so instead of reporting 0 messages.
	mustFail(t, getenv, "channel "+medium+" of workspace "+seed.DemoWorkspace+" not found in "+stack.Table, args...)
	mustFail(t, getenv, "workspace ws-nowhere not found in "+stack.Table, "index", "rebuild", "--workspace", "ws-nowhere", "--medium", medium)
	mustRun(t, getenv, "channels", "connect", seed.DemoWorkspace, medium)

	// Interrupted (Ctrl-C) after its 50th page, it says how to go on.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errOut := cancelOnWrite{cancel: cancel}
	e := newEnv(&out, &errOut, getenv)
	if code := e.main(ctx, []string{"index", "rebuild", "--workspace", seed.DemoWorkspace, "--medium", medium, "--page-size", "1"}); code != exitError {
		t.Fatalf("interrupted: exit %d\n%s", code, errOut.String())
	}
	_, last, _ := strings.Cut(errOut.String(), "\n")
	resume := regexp.MustCompile(`^vipctl: interrupted after 50 pages, 50 messages, .*; resume with: (vipctl index rebuild --workspace ws-demo --medium ch-preindex --resume c1\.\S+)\n$`).FindStringSubmatch(last)
	if resume == nil {
		t.Fatalf("interrupted: stderr %q", errOut.String())
	}
	r := mustRun(t, getenv, append(strings.Fields(resume[1])[1:], "--page-size", "1000")...)
	if !strings.Contains(r.stdout, "1 page, 40 messages") {
		t.Fatalf("resumed after the interruption: %s", r)
	}

	r = mustRun(t, getenv, args...)
	if !strings.Contains(r.stdout, "5 pages, 90 messages") {
		t.Fatalf("summary: %s", r)
	}
	for _, label := range append(slices.Clone(seed.BuiltinLabels), seed.CustomLabelIDs...) {
		want := labelWalk(filter, label)
		if got := labelWalk(index, label); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("label %s after the rebuild: %v, want %v", label, got, want)
		}
	}
	// A labelled message deleted behind the indexer's back (no indexer runs
	// here): its index items are orphans until a rebuild sweeps them.
	var gone schema.Message
	for _, m := range msgs {
		if len(m.Labels) > 0 {
			gone = m
			break
		}
	}
	if _, err := db.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(stack.Table), Key: map[string]types.AttributeValue{
		schema.PartitionKeyAttr: &types.AttributeValueMemberS{Value: schema.MessagePK(seed.DemoWorkspace, medium)},
		schema.SortKeyAttr:      &types.AttributeValueMemberS{Value: schema.MessageSK(gone.Timestamp, gone.MessageID)},
	}}); err != nil {
		t.Fatal(err)
	}
	if got, want := labelWalk(index, gone.Labels[0]), labelWalk(filter, gone.Labels[0]); slices.Equal(got, want) {
		t.Fatalf("label %s: the deleted message should still be in the index before the rebuild", gone.Labels[0])
	}
	// verify sees each of them, and exits 1.
	verify := []string{"index", "verify", "--workspace", seed.DemoWorkspace, "--medium", medium, "--from", "2026-03-01", "--to", "2026-03-31", "--settle", "0"}
	r = vipctl(getenv, verify...)
	goneSK := schema.MessageSK(gone.Timestamp, gone.MessageID)
	if r.code != exitError || strings.Count(r.stdout, goneSK) != len(labelindex.Labels(seed.DemoWorkspace, medium, gone)) ||
		!strings.Contains(r.stdout, "orphan") || !strings.Contains(r.stderr, "label index differs from the table") {
		t.Fatalf("verify before the sweep: %s", r)
	}
	r = mustRun(t, getenv, args...)
	// Its index items, and the presence marker its rebuild gave it (the total's count).
	if want := count(len(labelindex.Labels(seed.DemoWorkspace, medium, gone))+1, "orphan") + " deleted"; !strings.Contains(r.stdout, want) {
		t.Fatalf("sweep: %s, want %q", r, want)
	}
	for _, label := range append(slices.Clone(seed.BuiltinLabels), seed.CustomLabelIDs...) {
		if got, want := labelWalk(index, label), labelWalk(filter, label); !slices.Equal(got, want) {
			t.Fatalf("label %s after the sweep: %v, want %v", label, got, want)
		}
	}
	msgs = slices.DeleteFunc(msgs, func(m schema.Message) bool { return m.MessageID == gone.MessageID })
	if r := mustRun(t, getenv, verify...); !strings.Contains(r.stdout, "label index matches the table for channel ws-demo/ch-preindex from 2026-03-01 to 2026-03-31: 89 messages") {
		t.Fatalf("verify after the sweep: %s", r)
	}

	// Idempotent, and resumable: a token from the middle redoes only the rest.
	mustRun(t, getenv, args...)
	tok := resumeTokenAfter(msgs, 40)
	r = mustRun(t, getenv, append(args, "--resume", tok)...)
	if !strings.Contains(r.stdout, "49 messages") {
		t.Fatalf("resumed: %s", r)
	}
	mustFail(t, getenv, "not a token", append(args, "--resume", "c1.!!")...)

	// The whole table, as after deploying the index on old data.
	r = mustRun(t, getenv, "index", "rebuild", "--all", "--page-size", "500")
	if !strings.Contains(r.stdout, "every channel") {
		t.Fatalf("--all: %s", r)
	}

	for _, bad := range [][]string{
		{"index", "rebuild"},
		{"index", "rebuild", "--workspace", "w"},
		{"index", "rebuild", "--all", "--workspace", "w", "--medium", "m"},
		{"index", "rebuild", "--all", "--page-size", "0"},
		{"index", "rebuild", "--workspace", "w#x", "--medium", "m"},
		{"index", "verify", "--workspace", "w", "--medium", "m", "--from", "2026-03-01"},
		{"index", "verify", "--workspace", "w", "--medium", "m", "--from", "2026-03-02", "--to", "2026-03-01"},
		{"index", "verify", "--workspace", "w", "--medium", "m", "--from", "March", "--to", "2026-03-01"},
		{"index", "replay-dlq"},
	} {
		if r := vipctl(getenv, bad...); r.code != 2 {
			t.Fatalf("vipctl %v: want a usage error, got %s", bad, r)
		}
	}
}

// resumeTokenAfter is the token a rebuild reports after reading the first n
// messages of the channel in key order (the Query order).
func resumeTokenAfter(msgs []schema.Message, n int) string {
	sks := make([]string, len(msgs))
	for i, m := range msgs {
		sks[i] = schema.MessageSK(m.Timestamp, m.MessageID)
	}
	slices.Sort(sks)
	return rebuild.ChannelToken(sks[n-1])
}

// cancelOnWrite is a stderr that cancels the run after its first line, the
// first progress line, as a Ctrl-C would.
type cancelOnWrite struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return c.Buffer.Write(p)
}

// fakeQueue is a DLQ in memory: it hands out its messages (each once per
// receive, as a visibility timeout does) and records deletes.
type fakeQueue struct {
	msgs    []sqstypes.Message
	deleted []string
}

func (q *fakeQueue) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	n := min(int(in.MaxNumberOfMessages), len(q.msgs))
	out := q.msgs[:n]
	q.msgs = q.msgs[n:]
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (q *fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.deleted = append(q.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

// fakeStream holds one record in shard "kept"; every other shard is trimmed.
type fakeStream struct{}

func (fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	if aws.ToString(in.ShardId) != "kept" {
		return nil, &streamtypes.TrimmedDataAccessException{Message: aws.String("trimmed")}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String("it")}, nil
}

func (fakeStream) GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	// A workspace item's record: nothing to repair, and the range is whole.
	return &dynamodbstreams.GetRecordsOutput{Records: []streamtypes.Record{{Dynamodb: &streamtypes.StreamRecord{
		SequenceNumber: aws.String("100"),
		Keys: map[string]streamtypes.AttributeValue{
			"pk": &streamtypes.AttributeValueMemberS{Value: "WS#ws-a"}, "sk": &streamtypes.AttributeValueMemberS{Value: "WS"},
		},
	}}}}, nil
}

// replay-dlq deletes the messages whose batch it replayed whole, leaves the
// others, says which to rebuild, and exits 1 while any is left.
func TestReplayDLQ(t *testing.T) {
	body := func(shard string) *string {
		return aws.String(`{"version":"1.0","DDBStreamBatchInfo":{"shardId":"` + shard + `","startSequenceNumber":"100","endSequenceNumber":"100","batchSize":1,"streamArn":"arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-06-01T00:00:00.000"}}`)
	}
	for _, c := range []struct {
		name     string
		msgs     []sqstypes.Message
		fail     bool
		deleted  []string
		contains []string
	}{
		{"every batch still in the stream", []sqstypes.Message{{MessageId: aws.String("1"), ReceiptHandle: aws.String("r1"), Body: body("kept")}},
			false, []string{"r1"}, []string{"shard kept 100..100: 1 record, 0 messages repaired", "1 DLQ message replayed"}},
		{"a trimmed batch and a foreign message", []sqstypes.Message{
			{MessageId: aws.String("1"), ReceiptHandle: aws.String("r1"), Body: body("kept")},
			{MessageId: aws.String("2"), ReceiptHandle: aws.String("r2"), Body: body("trimmed")},
			{MessageId: aws.String("3"), ReceiptHandle: aws.String("r3"), Body: aws.String(`{"hello":1}`)},
		}, true, []string{"r1"}, []string{"shard trimmed 100..100: the stream no longer holds all its records", "message 3: not the failure record", "vipctl index rebuild --all"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeQueue{msgs: c.msgs}
			var out bytes.Buffer
			err := replayDLQ(context.Background(), &out, q, "https://queue", false, rebuild.New(nil, "t"), fakeStream{})
			if (err != nil) != c.fail || !slices.Equal(q.deleted, c.deleted) {
				t.Fatalf("err %v, deleted %v\n%s", err, q.deleted, out.String())
			}
			for _, want := range c.contains {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// sqsStandIn answers SQS's JSON protocol: GetQueueUrl with queueURL, and an
// empty ReceiveMessage; it records each call's target and body.
type sqsStandIn struct {
	queueURL string
	calls    []string
}

func (s *sqsStandIn) Do(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	s.calls = append(s.calls, target+" "+string(body))
	out := `{}`
	if target == "AmazonSQS.GetQueueUrl" {
		out = `{"QueueUrl":"` + s.queueURL + `"}`
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(strings.NewReader(out)), Request: r}, nil
}

// With --stage alone, replay-dlq reads the stage's queue, found by the name
// template.yaml gives it.
func TestReplayDLQOfStage(t *testing.T) {
	awsAccount(t)
	sqs := &sqsStandIn{queueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/vip-messages-label-indexer-dlq-staging"}
	if r := vipctlVia(sqs, noEnv, "index", "replay-dlq", "--stage", "staging"); r.code != 0 {
		t.Fatalf("replay-dlq --stage staging: %s", r)
	}
	if len(sqs.calls) < 2 || !strings.HasPrefix(sqs.calls[0], `AmazonSQS.GetQueueUrl {"QueueName":"vip-messages-label-indexer-dlq-staging"`) ||
		!strings.HasPrefix(sqs.calls[1], "AmazonSQS.ReceiveMessage") || !strings.Contains(sqs.calls[1], sqs.queueURL) {
		t.Fatalf("calls %q: want the stage's queue looked up by name, then read", sqs.calls)
	}
}
