package rebuild_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/table"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

const (
	ws    = "ws-1"
	ch    = "ch-1"
	other = "ch-other"
)

var (
	t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	t1 = t0.Add(31 * 24 * time.Hour)
)

// world is a table and the messages the test wrote to ws/ch, kept in memory so
// that the expected index is computed without the table.
type world struct {
	ddb   *dynamodb.Client
	table string
	msgs  map[string]table.Message
	// other is the message stored in ch-other; elsewhere are the messages
	// whose index items are expected in ch-other.
	other     table.Message
	elsewhere []table.Message
}

// preIndex writes messages as they were before the index: message items only,
// n in ws/ch and one in ch-other, and a workspace item, which a channel rebuild
// leaves alone and --all indexes or skips.
func preIndex(t *testing.T, n int) *world {
	t.Helper()
	ddb, tbl := ddbtest.NewTable(t)
	w := &world{ddb: ddb, table: tbl, msgs: map[string]table.Message{},
		other: table.Message{MessageID: "other", Timestamp: t0.UnixMilli(), Labels: []string{"frustrated"}}}
	for _, m := range seed.Generate(rand.New(rand.NewPCG(31, 31)), t0, t1, n) {
		w.put(t, ch, m)
		w.msgs[m.MessageID] = m
	}
	w.put(t, other, w.other)
	if err := seed.NewWriter(w.ddb, w.table).Write(context.Background(), seed.Dataset{
		Workspaces: []seed.Workspace{{ID: ws, Name: "w", VIP: true}},
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) put(t *testing.T, medium string, m table.Message) {
	t.Helper()
	item, err := m.Item(ws, medium)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// putIndex writes a message's index items, as the live indexer does.
func (w *world) putIndex(t *testing.T, medium string, m table.Message) {
	t.Helper()
	items, err := labelindex.MessageItems(ws, medium, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := w.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

// update changes attributes of a stored message of ws/ch with UpdateItem, as
// the AI labelling does, and mirrors the change in memory.
func (w *world) update(t *testing.T, id string, change func(*table.Message)) {
	t.Helper()
	m := w.msgs[id]
	change(&m)
	m = m.WithLabelLists()
	up := expression.Set(expression.Name("labels"), expression.Value(m.Labels)).
		Set(expression.Name("customLabelIds"), expression.Value(m.CustomLabelIDs)).
		Set(expression.Name("text"), expression.Value(m.Text)).
		Set(expression.Name("kind"), expression.Value(m.Kind))
	expr, err := expression.NewBuilder().WithUpdate(up).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(w.table), Key: table.Key(table.MessagePK(ws, ch), table.MessageSK(m.Timestamp, m.MessageID)),
		UpdateExpression: expr.Update(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}); err != nil {
		t.Fatal(err)
	}
	w.msgs[id] = m
}

func (w *world) remove(t *testing.T, id string) {
	t.Helper()
	m := w.msgs[id]
	if _, err := w.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(w.table), Key: table.Key(table.MessagePK(ws, ch), table.MessageSK(m.Timestamp, m.MessageID)),
	}); err != nil {
		t.Fatal(err)
	}
	delete(w.msgs, id)
}

// indexKey names an index item: channel, label and the message's sort key.
func indexKey(medium, label string, m table.Message) string {
	return medium + "\n" + label + "\n" + table.MessageSK(m.Timestamp, m.MessageID)
}

// index reads every index item of the table (a consistent Scan), by indexKey.
func (w *world) index(t *testing.T) map[string]table.Message {
	t.Helper()
	out := map[string]table.Message{}
	p := dynamodb.NewScanPaginator(w.ddb, &dynamodb.ScanInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			var it table.MessageItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				t.Fatal(err)
			}
			gotWS, medium, label, ok := table.ParseLabelPK(it.PK)
			if !ok {
				continue
			}
			if gotWS != ws {
				t.Fatalf("index item %s in another workspace", it.PK)
			}
			out[indexKey(medium, label, it.Message)] = it.Message
		}
	}
	return out
}

// check compares the table's index items with those the model expects: one
// per label of every message of ws/ch and of w.elsewhere, each a copy of its
// message as the model holds it, and no other (an orphan shows).
func (w *world) check(t *testing.T) {
	t.Helper()
	want := map[string]table.Message{}
	expect := func(medium string, m table.Message) {
		for _, l := range labelindex.Labels(ws, medium, m) {
			want[indexKey(medium, l, m)] = m
		}
	}
	for _, m := range w.msgs {
		expect(ch, m)
	}
	for _, m := range w.elsewhere {
		expect(other, m)
	}
	got := w.index(t)
	for k, m := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("index item %q missing (%d items, want %d)", k, len(got), len(want))
		}
		if !sameMessage(g, m) {
			t.Fatalf("index item %q is %+v, want %+v", k, g, m)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("orphaned index item %q (%d items, want %d)", k, len(got), len(want))
		}
	}
}

// sameMessage compares messages with a nil label list equal to an empty one.
func sameMessage(a, b table.Message) bool {
	return a.MessageID == b.MessageID && a.Timestamp == b.Timestamp && a.ConversationID == b.ConversationID &&
		a.UserName == b.UserName && a.Kind == b.Kind && a.Source == b.Source && a.Text == b.Text &&
		slices.Equal(a.Labels, b.Labels) && slices.Equal(a.CustomLabelIDs, b.CustomLabelIDs)
}
