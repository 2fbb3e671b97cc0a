package labelindex_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/table"
)

// TestModel: random writes, relabels, text edits, changes of nothing indexed,
// deletes and TTL removals of a few messages; their stream records delivered
// as Lambda may deliver them: in batches, with failing DynamoDB calls (before
// or after the write lands) and the partial-batch retries they cause, crashes
// that bisect a batch after its writes landed, and earlier records replayed
// after later ones; all the while a rebuild of the channel runs and is
// interrupted at random. Once every record has been delivered, the index must
// equal a brute force over the table, item for item, for every label.
//
// One seed in CI; LABELINDEX_MODEL_SEEDS=N runs seeds 1..N, and
// LABELINDEX_MODEL_SEED=S runs seed S alone.
func TestModel(t *testing.T) {
	seeds := []uint64{1}
	if s := os.Getenv("LABELINDEX_MODEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	} else if s := os.Getenv("LABELINDEX_MODEL_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		seeds = nil
		for i := 1; i <= n; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runModel(t, seed) })
	}
}

// flaky fails a share of its calls: before the call, or after it (the write
// landed, its answer is lost).
type flaky struct {
	labelindex.API
	mu    sync.Mutex
	rng   *rand.Rand
	share float64
}

var errFlaky = errors.New("model: injected failure")

// fail decides a call's fate: 0 goes through, 1 fails before, 2 fails after.
func (f *flaky) fail() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.share {
		return 0
	}
	return 1 + f.rng.IntN(2)
}

func call[O any](f *flaky, do func() (O, error)) (O, error) {
	var zero O
	fate := f.fail()
	if fate == 1 {
		return zero, errFlaky
	}
	out, err := do()
	if fate == 2 && err == nil {
		return zero, errFlaky
	}
	return out, err
}

func (f *flaky) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return call(f, func() (*dynamodb.BatchGetItemOutput, error) { return f.API.BatchGetItem(ctx, in, opts...) })
}

func (f *flaky) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return call(f, func() (*dynamodb.PutItemOutput, error) { return f.API.PutItem(ctx, in, opts...) })
}

func (f *flaky) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return call(f, func() (*dynamodb.DeleteItemOutput, error) { return f.API.DeleteItem(ctx, in, opts...) })
}

// slowWrites delays the rebuild's index writes by up to 10 ms.
type slowWrites struct {
	rebuild.API
	mu  sync.Mutex
	rng *rand.Rand
}

func (s *slowWrites) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.mu.Lock()
	d := time.Duration(s.rng.IntN(10)) * time.Millisecond
	s.mu.Unlock()
	time.Sleep(d)
	return s.API.PutItem(ctx, in, opts...)
}

// shard plays Lambda on one shard's records: a checkpoint, batches from it,
// retries from the lowest failed record, bisection after a crash.
type shard struct {
	t       *testing.T
	rng     *rand.Rand
	ix      *labelindex.Indexer
	log     []events.DynamoDBEventRecord
	next    int // the checkpoint: records before it are done
	crashes int
	replays int
}

// invoke delivers a batch until Lambda would move on from it.
func (s *shard) invoke(batch []events.DynamoDBEventRecord) {
	s.t.Helper()
	for len(batch) > 0 {
		resp, err := s.ix.Handle(context.Background(), events.DynamoDBEvent{Records: batch})
		if err != nil {
			s.t.Fatal(err)
		}
		if s.rng.IntN(8) == 0 {
			// The function crashed after its writes landed: a function error,
			// so Lambda bisects (or retries a batch of one).
			s.crashes++
			if len(batch) > 1 {
				mid := len(batch) / 2
				s.invoke(batch[:mid])
				s.invoke(batch[mid:])
				return
			}
			continue
		}
		from := len(batch)
		for _, f := range resp.BatchItemFailures {
			for i, r := range batch[:from] {
				if r.Change.SequenceNumber == f.ItemIdentifier {
					from = i
				}
			}
		}
		batch = batch[from:]
	}
}

// deliver moves the checkpoint up to n records on, replaying an earlier stretch
// first now and then.
func (s *shard) deliver(n int) {
	s.t.Helper()
	if s.next > 0 && s.rng.IntN(3) == 0 {
		from := s.rng.IntN(s.next)
		to := from + 1 + s.rng.IntN(s.next-from)
		s.replays++
		s.invoke(s.log[from:to])
	}
	to := min(len(s.log), s.next+n)
	s.invoke(s.log[s.next:to])
	s.next = to
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 26))
	w := newWorld(t)
	faults := &flaky{API: w.ddb, rng: rand.New(rand.NewPCG(seed, 27)), share: 0.1}
	ix := labelindex.NewIndexer(faults, w.table, nil)
	ix.Workers = 3
	sh := &shard{t: t, rng: rng, ix: ix}

	// The rebuild beside it, interrupted at random and started again, once
	// per go.
	stop, kick := make(chan struct{}), make(chan struct{}, 1)
	var rebuilds, interrupted int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rrng := rand.New(rand.NewPCG(seed, 28))
		// Slow writes: a page's writes land well after its read, when the
		// indexer may have applied newer changes.
		rb := rebuild.New(&slowWrites{API: w.ddb, rng: rand.New(rand.NewPCG(seed, 29))}, w.table)
		rb.PageSize = 3
		token := ""
		for {
			select {
			case <-stop:
				return
			case <-kick:
			}
			ctx, cancel := context.WithCancel(context.Background())
			pages := 1 + rrng.IntN(6)
			p, err := rb.Channel(ctx, ws, ch, token, func(p rebuild.Progress) {
				if p.Pages+p.SweepPages >= pages {
					cancel()
				}
			})
			cancel()
			rebuilds++
			switch {
			case errors.Is(err, context.Canceled):
				interrupted++
				token = p.Token
				if rrng.IntN(3) == 0 {
					token = "" // started over rather than resumed
				}
			case err != nil:
				t.Errorf("rebuild: %v", err)
				return
			default:
				token = ""
			}
		}
	}()

	const messages = 12
	labels := []string{"a", "b", "c", "d", "e"}
	someLabels := func() []string {
		var out []string
		for _, l := range labels {
			if rng.IntN(3) == 0 {
				out = append(out, l)
			}
		}
		return out
	}
	ctx := context.Background()
	var ops int
	for step := range 40 {
		for range 1 + rng.IntN(3) {
			ops++
			id := fmt.Sprintf("m%d", rng.IntN(messages))
			m, exists := w.msgs[id]
			switch op := rng.IntN(10); {
			case !exists || op < 2:
				w.put(t, table.Message{MessageID: id, Timestamp: t0.Add(time.Duration(len(id)*7+int(id[1])) * time.Minute).UnixMilli(), Kind: "text",
					Text: fmt.Sprintf("text %d", step), Labels: someLabels(), CustomLabelIDs: someLabels()})
			case op < 5:
				w.update(t, id, func(m *table.Message) { m.Labels, m.CustomLabelIDs = someLabels(), someLabels() })
			case op < 6:
				w.update(t, id, func(m *table.Message) { m.Text = fmt.Sprintf("edited %d", step) })
			case op < 7:
				// Nothing the index holds.
				if _, err := w.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(w.table), Key: msgKey(m),
					UpdateExpression:          aws.String("SET #x = :x"),
					ExpressionAttributeNames:  map[string]string{"#x": "labelledBy"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberN{Value: fmt.Sprint(step)}},
				}); err != nil {
					t.Fatal(err)
				}
			default:
				// A delete, or a TTL removal: the same REMOVE record with the
				// old image (only its userIdentity differs, which the indexer
				// does not read).
				w.remove(t, id)
			}
		}
		sh.log = append(sh.log, read(t, w.stream, true)...)
		if rng.IntN(3) == 0 || step >= 30 {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		if rng.IntN(2) == 0 {
			sh.deliver(1 + rng.IntN(12))
		}
	}
	// The writes are done. A last write elsewhere marks the end of their records
	// on the stream (DynamoDB Local shows them at once, but a read may come
	// before).
	sentinel := table.Message{MessageID: "sentinel", Timestamp: t0.UnixMilli(), Kind: "text"}
	item, err := sentinel.Item(ws, "ch-sentinel")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
		t.Fatal(err)
	}
	for !slices.ContainsFunc(sh.log, func(r events.DynamoDBEventRecord) bool {
		return r.Change.Keys["pk"].String() == table.MessagePK(ws, "ch-sentinel")
	}) {
		sh.log = append(sh.log, read(t, w.stream, true)...)
	}
	for sh.next < len(sh.log) {
		sh.deliver(1 + rng.IntN(12))
	}
	close(stop)
	wg.Wait()
	// Lambda may run a last duplicate after the checkpoint passed everything.
	sh.deliver(0)

	got, want := indexItems(t, w), bruteForce(t, w)
	for k, g := range got {
		if wnt, ok := want[k]; !ok {
			t.Errorf("index item %s: no message carries it", k)
		} else if !equalMessages([]table.Message{g}, []table.Message{wnt}) {
			t.Errorf("index item %s is %+v, the message %+v", k, g, wnt)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("index item %s missing", k)
		}
	}
	t.Logf("seed %d: %d writes, %d records, %d crashes, %d replays, %d rebuilds (%d interrupted), %d index items",
		seed, ops, len(sh.log), sh.crashes, sh.replays, rebuilds, interrupted, len(want))
}

// indexItems reads every index item of the table, by channel, label and sort
// key.
func indexItems(t *testing.T, w *world) map[string]table.Message {
	t.Helper()
	out := map[string]table.Message{}
	for _, it := range scanAll(t, w) {
		var x table.MessageItem
		if err := attributevalue.UnmarshalMap(it, &x); err != nil {
			t.Fatal(err)
		}
		if ws, medium, label, ok := table.ParseLabelPK(x.PK); ok {
			out[ws+"/"+medium+" "+label+" "+x.SK] = x.Message
		}
	}
	return out
}

// bruteForce is the index the table's messages call for.
func bruteForce(t *testing.T, w *world) map[string]table.Message {
	t.Helper()
	out := map[string]table.Message{}
	for _, it := range scanAll(t, w) {
		s, ok, err := labelindex.Decode(it)
		if !ok {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		items, err := labelindex.Items(s.WorkspaceID, s.MediumID, s.SK, s.Message)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range slices.Sorted(maps.Keys(items)) {
			out[s.WorkspaceID+"/"+s.MediumID+" "+l+" "+s.SK] = s.Message.WithLabelLists()
		}
	}
	return out
}

func scanAll(t *testing.T, w *world) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(w.ddb, &dynamodb.ScanInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
	}
	return out
}
