package labelindex_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

const (
	ws = "ws-1"
	ch = "ch-1"
)

var (
	t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	t1 = t0.Add(31 * 24 * time.Hour)
)

// world is a table, its stream, the indexer, and the messages the test wrote,
// kept in memory so that the expected index is computed without the table.
type world struct {
	ddb     *dynamodb.Client
	table   string
	stream  *devstack.Stream
	indexer *labelindex.Indexer
	index   *messages.Store // label path: the index
	scan    *messages.Store // label path: FilterExpression on the messages
	msgs    map[string]table.Message
	// history is every filtered batch delivered so far, in stream order.
	history []events.DynamoDBEventRecord
	// pending counts the writes since the last step that changed an item: a
	// write that changes nothing puts no record on the stream.
	pending int
	// elsewhere counts index items expected outside ws/ch.
	elsewhere int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ddb, name := ddbtest.NewStreamTable(t)
	return &world{
		ddb: ddb, table: name,
		stream:  newStream(t, name, false), // TRIM_HORIZON, as the mapping
		indexer: labelindex.NewIndexer(ddb, name, nil),
		index:   messages.NewStore(ddb, name, messages.Budget{}),
		scan:    messages.NewStore(ddb, name, messages.Budget{}, messages.WithLabelPath(messages.LabelViaFilter)),
		msgs:    map[string]table.Message{},
	}
}

func (w *world) put(t *testing.T, m table.Message) {
	t.Helper()
	item, err := m.Item(ws, ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
		t.Fatal(err)
	}
	w.msgs[m.MessageID] = normalize(m)
	w.pending++
}

// update changes attributes of a stored message with UpdateItem, as the AI
// labelling does, and mirrors the change in memory.
func (w *world) update(t *testing.T, id string, change func(*table.Message)) {
	t.Helper()
	m := w.msgs[id]
	change(&m)
	m = normalize(m)
	if equalMessages([]table.Message{m}, []table.Message{w.msgs[id]}) {
		return
	}
	w.pending++
	up := expression.Set(expression.Name("labels"), expression.Value(m.Labels)).
		Set(expression.Name("customLabelIds"), expression.Value(m.CustomLabelIDs)).
		Set(expression.Name("text"), expression.Value(m.Text)).
		Set(expression.Name("kind"), expression.Value(m.Kind))
	expr, err := expression.NewBuilder().WithUpdate(up).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(w.table), Key: msgKey(m),
		UpdateExpression: expr.Update(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}); err != nil {
		t.Fatal(err)
	}
	w.msgs[id] = m
}

func (w *world) remove(t *testing.T, id string) {
	t.Helper()
	if _, err := w.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(w.table), Key: msgKey(w.msgs[id]),
	}); err != nil {
		t.Fatal(err)
	}
	delete(w.msgs, id)
	w.pending++
}

func msgKey(m table.Message) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.PartitionKeyAttr: &types.AttributeValueMemberS{Value: table.MessagePK(ws, ch)},
		table.SortKeyAttr:      &types.AttributeValueMemberS{Value: table.MessageSK(m.Timestamp, m.MessageID)},
	}
}

func normalize(m table.Message) table.Message {
	if m.Labels == nil {
		m.Labels = []string{}
	}
	if m.CustomLabelIDs == nil {
		m.CustomLabelIDs = []string{}
	}
	return m
}

// batch reads what the stream holds since the last read, through the template's
// filter; want is how many message records the step wrote.
func (w *world) batch(t *testing.T, want int) []events.DynamoDBEventRecord {
	t.Helper()
	got := waitRecords(t, w.stream, want, true)
	if len(got) != want {
		t.Fatalf("stream gave %d message records, want %d", len(got), want)
	}
	return got
}

// deliver runs the indexer on a batch and wants no failure.
func (w *world) deliver(t *testing.T, recs []events.DynamoDBEventRecord) {
	t.Helper()
	resp, err := w.indexer.Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures: %v", resp.BatchItemFailures)
	}
}

// step reads the stream, delivers it once, and checks the index.
func (w *world) step(t *testing.T) []events.DynamoDBEventRecord {
	t.Helper()
	recs := w.batch(t, w.pending)
	w.pending = 0
	w.deliver(t, recs)
	w.history = append(w.history, recs...)
	w.check(t)
	return recs
}

// labels lists every label the test uses, and one no message has.
func (w *world) labels() []string {
	out := []string{"no-such-label"}
	for _, m := range w.msgs {
		out = append(out, m.Labels...)
		out = append(out, m.CustomLabelIDs...)
	}
	out = append(out, seed.BuiltinLabels...)
	out = append(out, seed.CustomLabelIDs...)
	slices.Sort(out)
	return slices.Compact(out)
}

// check compares, for every label, the label walk through the index with the
// answer computed in memory (full message content, newest first) and with the
// FilterExpression walk over the messages; and counts the index items, so that
// an orphan (an item for a removed label or message) shows.
func (w *world) check(t *testing.T) {
	t.Helper()
	wantItems := w.elsewhere
	for _, m := range w.msgs {
		wantItems += len(labelindex.Labels(ws, ch, m))
	}
	for _, label := range w.labels() {
		var want []table.Message
		for _, m := range w.msgs {
			if slices.Contains(m.Labels, label) || slices.Contains(m.CustomLabelIDs, label) {
				want = append(want, m)
			}
		}
		slices.SortFunc(want, func(a, b table.Message) int {
			return -strings.Compare(table.MessageSK(a.Timestamp, a.MessageID), table.MessageSK(b.Timestamp, b.MessageID))
		})
		q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Label: label, Limit: 7}
		got := walk(t, w.index, q)
		if !equalMessages(got, want) {
			t.Fatalf("label %q through the index: %d messages %v, want %d %v", label, len(got), idsOf(got), len(want), idsOf(want))
		}
		if byFilter := walk(t, w.scan, q); !slices.Equal(idsOf(byFilter), idsOf(want)) {
			t.Fatalf("label %q: the filter walk %v disagrees with the model %v", label, idsOf(byFilter), idsOf(want))
		}
	}
	if n := countIndexItems(t, w.ddb, w.table); n != wantItems {
		t.Fatalf("table holds %d index items, want %d", n, wantItems)
	}
}

func walk(t *testing.T, s *messages.Store, q messages.Query) []table.Message {
	t.Helper()
	var out []table.Message
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatal("walk does not end")
		}
		p, err := s.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Messages...)
		if !p.MayHaveMore {
			return out
		}
		q.Before = p.Next
	}
}

func equalMessages(a, b []table.Message) bool {
	return slices.EqualFunc(a, b, func(x, y table.Message) bool {
		return x.MessageID == y.MessageID && x.Timestamp == y.Timestamp && x.ConversationID == y.ConversationID &&
			x.UserName == y.UserName && x.Kind == y.Kind && x.Source == y.Source && x.Text == y.Text &&
			slices.Equal(x.Labels, y.Labels) && slices.Equal(x.CustomLabelIDs, y.CustomLabelIDs)
	})
}

func idsOf(ms []table.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MessageID
	}
	return out
}

func countIndexItems(t *testing.T, ddb *dynamodb.Client, tableName string) int {
	t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(tableName), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			if pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS); pk != nil && strings.HasPrefix(pk.Value, table.LabelPKPrefix) {
				n++
			}
		}
	}
	return n
}

func TestIndexerFollowsTheStream(t *testing.T) {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(21, 21))
	msgs := seed.Generate(rng, t0, t1, 120)

	t.Run("insert", func(t *testing.T) {
		for _, m := range msgs {
			w.put(t, m)
		}
		w.step(t)
	})

	var labelAdded []events.DynamoDBEventRecord
	t.Run("label added", func(t *testing.T) {
		for _, m := range msgs[:30] {
			w.update(t, m.MessageID, func(m *table.Message) {
				m.Labels = append(m.Labels, "escalated")
				m.CustomLabelIDs = append(m.CustomLabelIDs, "cl-new")
			})
		}
		labelAdded = w.step(t)
	})

	t.Run("same batch delivered twice", func(t *testing.T) {
		w.deliver(t, labelAdded)
		w.check(t)
	})

	t.Run("label removed", func(t *testing.T) {
		for _, m := range msgs[10:40] {
			w.update(t, m.MessageID, func(m *table.Message) {
				m.Labels = slices.DeleteFunc(m.Labels, func(l string) bool { return l == "escalated" || l == "frustrated" })
				m.CustomLabelIDs = nil
			})
		}
		w.step(t)
	})

	t.Run("text and kind changed", func(t *testing.T) {
		for i, m := range msgs[40:60] {
			w.update(t, m.MessageID, func(m *table.Message) {
				m.Text = fmt.Sprintf("edited %d", i)
				m.Kind = "postback"
			})
		}
		w.step(t)
	})

	t.Run("several changes of one message in one batch", func(t *testing.T) {
		m := msgs[70]
		w.update(t, m.MessageID, func(m *table.Message) { m.Labels = []string{"a1"} })
		w.update(t, m.MessageID, func(m *table.Message) { m.Labels = []string{"a2"} })
		w.update(t, m.MessageID, func(m *table.Message) { m.Labels = []string{"a2", "a3"}; m.Text = "last" })
		fresh := seed.Generate(rand.New(rand.NewPCG(8, 8)), t0, t1, 1)[0]
		fresh.MessageID = "fresh"
		w.put(t, fresh)
		w.update(t, "fresh", func(m *table.Message) { m.Labels = []string{"a1"} })
		w.remove(t, "fresh")
		w.step(t)
	})

	t.Run("a change of nothing indexed writes nothing; the rebuild heals a lost item", func(t *testing.T) {
		var m table.Message
		for _, c := range msgs[90:] {
			if len(labelindex.Labels(ws, ch, w.msgs[c.MessageID])) > 0 {
				m = w.msgs[c.MessageID]
				break
			}
		}
		lost := labelindex.Labels(ws, ch, m)[0]
		if _, err := w.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(w.table), Key: map[string]types.AttributeValue{
			table.PartitionKeyAttr: &types.AttributeValueMemberS{Value: table.LabelPK(ws, ch, lost)},
			table.SortKeyAttr:      &types.AttributeValueMemberS{Value: table.MessageSK(m.Timestamp, m.MessageID)},
		}}); err != nil {
			t.Fatal(err)
		}
		// A MODIFY of an attribute outside the message model: the index items'
		// content is unchanged, so nothing is read or written.
		if _, err := w.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: aws.String(w.table), Key: msgKey(m),
			UpdateExpression:          aws.String("SET #x = :x"),
			ExpressionAttributeNames:  map[string]string{"#x": "labelledBy"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberS{Value: "model-2"}},
		}); err != nil {
			t.Fatal(err)
		}
		recs := w.batch(t, 1)
		w.deliver(t, recs)
		w.history = append(w.history, recs...)
		q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Label: lost, Limit: 50}
		for _, got := range walk(t, w.index, q) {
			if got.MessageID == m.MessageID {
				t.Fatal("the lost item was written again by a change of nothing indexed")
			}
		}
		if _, err := rebuild.New(w.ddb, w.table).Channel(context.Background(), ws, ch, "", nil); err != nil {
			t.Fatal(err)
		}
		w.check(t)
	})

	t.Run("message deleted", func(t *testing.T) {
		for _, m := range msgs[60:90] {
			w.remove(t, m.MessageID)
		}
		w.step(t)
	})

	t.Run("whole history replayed, and replayed from the middle", func(t *testing.T) {
		for _, from := range []int{0, 125, len(w.history) - 40} {
			w.deliver(t, w.history[from:])
			w.check(t)
		}
	})

	t.Run("records of other items are ignored in code too", func(t *testing.T) {
		// The indexer's own writes are on the stream as LBL# records; the event
		// source mapping filters them out, and so does the code.
		if recs := read(t, w.stream, true); len(recs) != 0 {
			t.Fatalf("unexpected message records on the stream: %d", len(recs))
		}
		// Every record from now on, unfiltered.
		all := newStream(t, w.table, true)
		if recs := read(t, all, false); len(recs) != 0 {
			t.Fatalf("LATEST read %d old records", len(recs))
		}
		if err := seed.NewWriter(w.ddb, w.table).Write(context.Background(), seed.Dataset{
			Workspaces: []seed.Workspace{{ID: ws, Name: "w", VIP: true}},
			Channels:   []seed.Channel{{WorkspaceID: ws, MediumID: ch, Name: "c", Connected: true}},
		}); err != nil {
			t.Fatal(err)
		}
		raw := waitRecords(t, all, 2, false)
		var others int
		for _, r := range raw {
			if !isMessageRecord(r) {
				others++
			}
		}
		if others < 2 || others != len(raw) {
			t.Fatalf("want only non-message records, got %d of %d", others, len(raw))
		}
		w.deliver(t, raw)
		w.check(t)
	})
}

func TestUnreadableRecordIsIgnored(t *testing.T) {
	w := newWorld(t)
	msgs := seed.Generate(rand.New(rand.NewPCG(4, 4)), t0, t1, 10)
	for _, m := range msgs {
		w.put(t, m)
	}
	w.step(t)

	// A message item the indexer cannot read (labels is a number), in another
	// channel so that the filter walk of ch stays readable, between good changes.
	w.update(t, msgs[0].MessageID, func(m *table.Message) { m.Labels = []string{"before-poison"} })
	poisonSK := table.MessageSK(t0.Add(time.Hour).UnixMilli(), "poison")
	if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: map[string]types.AttributeValue{
		table.PartitionKeyAttr: &types.AttributeValueMemberS{Value: table.MessagePK(ws, "ch-poison")},
		table.SortKeyAttr:      &types.AttributeValueMemberS{Value: poisonSK},
		"labels":               &types.AttributeValueMemberN{Value: "7"},
	}}); err != nil {
		t.Fatal(err)
	}
	w.update(t, msgs[1].MessageID, func(m *table.Message) { m.Labels = []string{"after-poison"} })
	recs := w.batch(t, w.pending+1)
	w.pending = 0

	// Ignored, not failed: no retry could read it. The records around it are
	// applied, and a replay changes nothing.
	var logs strings.Builder
	ix := labelindex.NewIndexer(w.ddb, w.table, slog.New(slog.NewJSONHandler(&logs, nil)))
	for range 2 {
		resp, err := ix.Handle(context.Background(), events.DynamoDBEvent{Records: recs})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("BatchItemFailures %v, %v: want none", resp.BatchItemFailures, err)
		}
		w.check(t)
	}
	if !strings.Contains(logs.String(), "record ignored") || !strings.Contains(logs.String(), poisonSK) {
		t.Fatalf("no warning naming the ignored record: %s", logs.String())
	}
}

func TestPlan(t *testing.T) {
	base := table.Message{MessageID: "m1", Timestamp: t0.UnixMilli(), Kind: "text", Text: "hi",
		Labels: []string{"a", "b", "bad#label", ""}, CustomLabelIDs: []string{"a", "c"}}
	k := labelindex.MessageKey{WorkspaceID: ws, MediumID: ch, SK: table.MessageSK(base.Timestamp, base.MessageID)}
	relabelled := base
	relabelled.Labels = []string{"b", "d"}
	relabelled.CustomLabelIDs = nil
	cases := []struct {
		name         string
		cur          *table.Message
		consider     []string
		puts, delete []string
	}{
		{"one item per label, '#' and empty skipped, duplicates once", &base, nil, []string{"a", "b", "c"}, nil},
		{"absent: every label considered is deleted", nil, []string{"a", "b", "c", "a"}, nil, []string{"a", "b", "c"}},
		{"labels seen elsewhere and not carried now are deleted", &relabelled, []string{"a", "b", "c", "bad#label"}, []string{"b", "d"}, []string{"a", "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			targets, _, err := labelindex.Plan(k, c.cur, c.consider)
			if err != nil {
				t.Fatal(err)
			}
			var puts, dels []string
			for _, x := range targets {
				if x.Item != nil {
					puts = append(puts, x.Label)
					var it table.MessageItem
					if err := attributevalue.UnmarshalMap(x.Item, &it); err != nil || it.PK != table.LabelPK(ws, ch, x.Label) || it.SK != k.SK || it.Text != c.cur.Text {
						t.Fatalf("item of %s: %+v, %v", x.Label, it, err)
					}
				} else {
					dels = append(dels, x.Label)
				}
			}
			if !slices.Equal(puts, c.puts) || !slices.Equal(dels, c.delete) {
				t.Fatalf("puts %v, deletes %v; want %v, %v", puts, dels, c.puts, c.delete)
			}
		})
	}
}
