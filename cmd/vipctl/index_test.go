package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	r = mustRun(t, getenv, args...)
	if want := count(len(labelindex.Labels(seed.DemoWorkspace, medium, gone)), "orphan") + " deleted"; !strings.Contains(r.stdout, want) {
		t.Fatalf("sweep: %s, want %q", r, want)
	}
	for _, label := range append(slices.Clone(seed.BuiltinLabels), seed.CustomLabelIDs...) {
		if got, want := labelWalk(index, label), labelWalk(filter, label); !slices.Equal(got, want) {
			t.Fatalf("label %s after the sweep: %v, want %v", label, got, want)
		}
	}
	msgs = slices.DeleteFunc(msgs, func(m schema.Message) bool { return m.MessageID == gone.MessageID })

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
