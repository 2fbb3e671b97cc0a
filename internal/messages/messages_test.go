package messages_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
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

// fixture is a table holding msgs in ws/ch, and the messages in memory so the
// expected answer is computed independently of the store.
type fixture struct {
	store  *messages.Store // the default: labels through the label index
	filter *messages.Store // labels through a FilterExpression
	client *dynamodb.Client
	table  string
	msgs   []table.Message
}

func newFixture(t *testing.T, budget messages.Budget, msgs []table.Message) *fixture {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	f := &fixture{
		store:  messages.NewStore(client, table, budget),
		filter: messages.NewStore(client, table, budget, messages.WithLabelPath(messages.LabelViaFilter)),
		client: client, table: table, msgs: msgs,
	}
	f.put(t, ws, ch, msgs)
	return f
}

func (f *fixture) put(t *testing.T, workspace, medium string, msgs []table.Message) {
	t.Helper()
	err := seed.NewWriter(f.client, f.table).Write(context.Background(), seed.Dataset{
		Messages: []seed.ChannelMessages{{WorkspaceID: workspace, MediumID: medium, Messages: msgs}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// want is the expected list: the window's matching messages, newest first, ties
// broken by message id descending (the sort key order).
func (f *fixture) want(q messages.Query) []string {
	var out []table.Message
	for _, m := range f.msgs {
		if m.Timestamp < ceilMS(q.From) || m.Timestamp >= ceilMS(q.Until) {
			continue
		}
		if q.Label != "" && !slices.Contains(m.Labels, q.Label) && !slices.Contains(m.CustomLabelIDs, q.Label) {
			continue
		}
		if q.ContentType != "" && m.Kind != q.ContentType {
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b table.Message) int {
		return -compareSK(a, b)
	})
	return ids(out)
}

func compareSK(a, b table.Message) int {
	sa, sb := table.MessageSK(a.Timestamp, a.MessageID), table.MessageSK(b.Timestamp, b.MessageID)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}

func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

func ids(ms []table.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MessageID
	}
	return out
}

// walk follows the cursor through every page and fails on a page that breaks
// the contract.
func walk(t *testing.T, s *messages.Store, q messages.Query) (got []string, pages []messages.Page) {
	t.Helper()
	for n := 0; ; n++ {
		if n > 10000 {
			t.Fatal("walk does not end")
		}
		p, err := s.List(context.Background(), q)
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		if len(p.Messages) > q.Limit {
			t.Fatalf("page %d has %d messages, limit %d", n, len(p.Messages), q.Limit)
		}
		if p.MayHaveMore != (p.Next != nil) {
			t.Fatalf("page %d: mayHaveMore %v but next %v", n, p.MayHaveMore, p.Next)
		}
		got = append(got, ids(p.Messages)...)
		pages = append(pages, p)
		if !p.MayHaveMore {
			return got, pages
		}
		// Through the wire form, as a client would echo it.
		next, err := messages.ParseCursor(p.Next.Token())
		if err != nil {
			t.Fatalf("page %d: own cursor rejected: %v", n, err)
		}
		q.Before = &next
	}
}

func msg(id string, ts int64, kind string, labels ...string) table.Message {
	return table.Message{MessageID: id, Timestamp: ts, Kind: kind, Labels: labels, ConversationID: "c", UserName: "u", Source: "web", Text: "hello " + id}
}

func TestWindowBoundsAndOrder(t *testing.T) {
	from, until := t0, t0.Add(24*time.Hour) // one whole UTC day, end-exclusive
	f := newFixture(t, messages.Budget{}, []table.Message{
		msg("before-from", from.UnixMilli()-1, "text"),
		msg("at-from", from.UnixMilli(), "text"),
		msg("mid", from.UnixMilli()+5000, "text"),
		msg("last-ms", until.UnixMilli()-1, "text"),
		msg("at-until", until.UnixMilli(), "text"),
	})
	cases := []struct {
		name        string
		from, until time.Time
		want        []string
	}{
		{"whole day", from, until, []string{"last-ms", "mid", "at-from"}},
		{"sub-millisecond from excludes the ms before it", from.Add(-time.Microsecond), until, []string{"last-ms", "mid", "at-from"}},
		{"from one ms late", from.Add(time.Millisecond), until, []string{"last-ms", "mid"}},
		{"until one ms past the end", from, until.Add(time.Millisecond), []string{"at-until", "last-ms", "mid", "at-from"}},
		{"until inside a ms includes it", from, until.Add(-time.Millisecond + time.Microsecond), []string{"last-ms", "mid", "at-from"}},
		{"empty window", from.Add(time.Hour), from.Add(2 * time.Hour), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := messages.Query{WorkspaceID: ws, MediumID: ch, From: c.from, Until: c.until, Limit: 50}
			got, pages := walk(t, f.store, q)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if len(pages) != 1 || pages[0].MayHaveMore {
				t.Fatalf("want one final page, got %d pages", len(pages))
			}
			if len(f.want(q)) != len(c.want) {
				t.Fatalf("fixture disagrees with the case: %v", f.want(q))
			}
		})
	}
}

// manyMessages is n messages in [t0, t1) plus a run of 50 sharing one
// millisecond, placed from the 181st newest message on (the middle one for
// fewer), so that pages of 1, 7 and 200 all have a boundary inside it.
func manyMessages(n int, seed uint64) []table.Message {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := seeded(rng, n)
	byAge := slices.Clone(out)
	slices.SortFunc(byAge, func(a, b table.Message) int { return -compareSK(a, b) })
	same := byAge[min(180, len(byAge)/2)].Timestamp
	for i := range 50 {
		out = append(out, msg(fmt.Sprintf("same-%02d", i), same, "text", "frustrated"))
	}
	return out
}

func seeded(rng *rand.Rand, n int) []table.Message {
	return seed.Generate(rng, t0, t1, n)
}

func TestWalkReturnsEveryMessageOnce(t *testing.T) {
	f := newFixture(t, messages.Budget{}, manyMessages(600, 7))
	base := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1}
	for _, limit := range []int{1, 7, 200} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			q := base
			q.Limit = limit
			got, pages := walk(t, f.store, q)
			want := f.want(q)
			if !slices.Equal(got, want) {
				t.Fatalf("walk returned %d ids, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
			for i, p := range pages[:len(pages)-1] {
				if len(p.Messages) != limit {
					t.Fatalf("unfiltered page %d has %d messages, want a full page of %d", i, len(p.Messages), limit)
				}
				if p.Stats.ItemsRead > limit+1 {
					t.Fatalf("unfiltered page %d read %d items, want at most limit+1", i, p.Stats.ItemsRead)
				}
			}
			if last := pages[len(pages)-1]; last.MayHaveMore {
				t.Fatal("last page says it may have more")
			}
			if !boundaryInsideRun(pages) {
				t.Fatal("no page boundary fell inside the run of 50 messages of one millisecond")
			}
		})
	}
}

// boundaryInsideRun reports whether a page ends and the next begins with
// messages of the run that manyMessages adds.
func boundaryInsideRun(pages []messages.Page) bool {
	for i := 0; i+1 < len(pages); i++ {
		a, b := pages[i].Messages, pages[i+1].Messages
		if len(a) > 0 && len(b) > 0 && strings.HasPrefix(a[len(a)-1].MessageID, "same-") && strings.HasPrefix(b[0].MessageID, "same-") {
			return true
		}
	}
	return false
}

func TestMillisecondRunSplitAcrossPages(t *testing.T) {
	same := t0.Add(time.Hour).UnixMilli()
	var msgs []table.Message
	for i := range 50 {
		msgs = append(msgs, msg(fmt.Sprintf("m-%02d", i), same, "text"))
	}
	msgs = append(msgs, msg("newer", same+1, "text"), msg("older", same-1, "text"))
	f := newFixture(t, messages.Budget{}, msgs)
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 7}
	got, pages := walk(t, f.store, q)
	if !slices.Equal(got, f.want(q)) || len(got) != 52 {
		t.Fatalf("got %d ids %v", len(got), got)
	}
	// A boundary inside the run: page 1 ends with a message of the shared millisecond
	// and page 2 starts with another.
	if p0, p1 := pages[0].Messages, pages[1].Messages; p0[len(p0)-1].Timestamp != same || p1[0].Timestamp != same {
		t.Fatal("no page boundary fell inside the shared millisecond")
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t, messages.Budget{}, manyMessages(1500, 11))
	base := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1}
	cases := []struct{ label, kind string }{
		{label: "frustrated"},
		{label: "cl-billing"},
		{kind: "postback"},
		{label: "happy", kind: "attachment"},
		{label: "no-such-label"},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 7, 50} {
			for path, store := range map[string]*messages.Store{"index": f.store, "filter": f.filter} {
				t.Run(fmt.Sprintf("%s/%s/%s/%d", path, c.label, c.kind, limit), func(t *testing.T) {
					q := base
					q.Label, q.ContentType, q.Limit = c.label, c.kind, limit
					got, pages := walk(t, store, q)
					want := f.want(q)
					if !slices.Equal(got, want) {
						t.Fatalf("got %d, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
					}
					// A full page continues at its first unreturned match, and reads
					// are sized to end near it, so a walk at limit 50 reads little
					// more than the channel (a fixed 4x read growth read 2.2x).
					read := 0
					for _, p := range pages {
						read += p.Stats.ItemsRead
					}
					if all := len(f.msgs); limit == 50 && read > all*5/4 {
						t.Fatalf("the walk read %d items in %d pages; the channel holds %d", read, len(pages), all)
					}
					if path != "index" || c.label == "" || c.kind != "" {
						return
					}
					// A label alone reads its index partition like an unfiltered
					// page: full pages, limit+1 items at most, an exact mayHaveMore.
					for i, p := range pages {
						if p.Stats.ItemsRead > limit+1 || p.Stats.Calls != 1 {
							t.Fatalf("index page %d read %d items in %d calls, want at most limit+1 in one", i, p.Stats.ItemsRead, p.Stats.Calls)
						}
						if i < len(pages)-1 && len(p.Messages) != limit {
							t.Fatalf("index page %d has %d messages, want a full page", i, len(p.Messages))
						}
					}
					if len(want) > 0 && len(want)%limit == 0 && len(pages) != len(want)/limit {
						t.Fatalf("%d matches at limit %d took %d pages: mayHaveMore is not exact", len(want), limit, len(pages))
					}
				})
			}
		}
	}
}

func TestRareLabelWithinBudget(t *testing.T) {
	msgs := seed.Generate(rand.New(rand.NewPCG(5, 5)), t0, t1, 5000)
	for i := range msgs {
		msgs[i].Labels, msgs[i].CustomLabelIDs = nil, nil
	}
	for _, i := range []int{17, 2500, 4990} {
		msgs[i].CustomLabelIDs = []string{"cl-rare"}
	}
	budget := messages.Budget{MaxCalls: 4, MaxItems: 1200}
	f := newFixture(t, budget, msgs)
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Label: "cl-rare", Limit: 50}
	// Through the index: one page, three items read.
	got, pages := walk(t, f.store, q)
	if want := f.want(q); !slices.Equal(got, want) || len(pages) != 1 || pages[0].Stats.ItemsRead != 3 || pages[0].MayHaveMore {
		t.Fatalf("index path: got %v in %d pages (%+v), want %v in one page reading 3 items", got, len(pages), pages[0].Stats, want)
	}
	// Through the filter: a bounded budget per page.
	got, pages = walk(t, f.filter, q)
	if want := f.want(q); !slices.Equal(got, want) || len(got) != 3 {
		t.Fatalf("got %v, want %v", got, want)
	}
	if len(pages) < 2 {
		t.Fatalf("a 5000-item scan fit one page of budget %d items", budget.MaxItems)
	}
	read := 0
	for i, p := range pages {
		if p.Stats.Calls > budget.MaxCalls || p.Stats.ItemsRead > budget.MaxItems {
			t.Fatalf("page %d spent %d calls, %d items; budget %+v", i, p.Stats.Calls, p.Stats.ItemsRead, budget)
		}
		read += p.Stats.ItemsRead
	}
	// The cursor never goes back over what was rejected: the walk reads each item once.
	if read != 5000 {
		t.Fatalf("walk read %d items of 5000", read)
	}
}

func TestCursorOutsideWindowOrChannel(t *testing.T) {
	msgs := manyMessages(100, 3)
	f := newFixture(t, messages.Budget{}, msgs)
	other := []table.Message{msg("other-1", t0.Add(12*24*time.Hour).UnixMilli(), "text")}
	f.put(t, ws, "ch-2", other)

	winFrom, winUntil := t0.Add(5*24*time.Hour), t0.Add(15*24*time.Hour)
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: winFrom, Until: winUntil, Limit: 10}
	all := f.want(q)
	first, err := f.store.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}

	pos := func(ts int64, id string) *messages.Position {
		p, err := messages.ParseCursor(tokenFor(ts, id))
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	otherCh := pos(other[0].Timestamp, other[0].MessageID)
	cases := []struct {
		name   string
		before *messages.Position
		want   []string
	}{
		{"newer than the window: first page", pos(t1.UnixMilli()+99, "zz"), ids(first.Messages)},
		{"at the window end", ptr(messages.PositionAt(winUntil.UnixMilli())), ids(first.Messages)},
		{"older than the window: empty", pos(winFrom.UnixMilli()-1, "a"), nil},
		{"at the window start: empty", ptr(messages.PositionAt(winFrom.UnixMilli())), nil},
		{"epoch 0", ptr(messages.PositionAt(0)), nil},
		{"another channel's cursor moves only inside this one", otherCh, firstN(f.wantBefore(q, other[0].Timestamp), 10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := q
			q.Before = c.before
			p, err := f.store.List(context.Background(), q)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := ids(p.Messages); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if len(c.want) == 0 && p.MayHaveMore {
				t.Fatal("an empty page past the window says it may have more")
			}
			for _, id := range ids(p.Messages) {
				if !slices.Contains(all, id) {
					t.Fatalf("%s is not in the window of this channel", id)
				}
			}
		})
	}
}

// wantBefore is want(q) for messages strictly older than ts.
func (f *fixture) wantBefore(q messages.Query, ts int64) []string {
	q.Until = time.UnixMilli(min(ts, ceilMS(q.Until)))
	return f.want(q)
}

func tokenFor(ts int64, id string) string {
	// A cursor is what a page's Next would be after a message with this key.
	return messages.MessagesTokenForTest(table.MessageSK(ts, id))
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }

func ptr[T any](v T) *T { return &v }

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// fitText is how many of msgs fit when their texts may add up to max bytes,
// the first always: a stand-in for the API's response bound.
func fitText(msgs []table.Message, max int) int {
	used := 0
	for i, m := range msgs {
		if i > 0 && used+len(m.Text) > max {
			return i
		}
		used += len(m.Text)
	}
	return len(msgs)
}

// A page cut where a size bound refuses a message (Page.Cut, as the API does)
// continues at that message on every path, so the walk is still exact; with
// MaxBytes the store stops reading once it holds more than the bound.
func TestCutPagesWalkExactly(t *testing.T) {
	f := newFixture(t, messages.Budget{}, manyMessages(400, 13))
	base := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 50, MaxBytes: 100}
	cases := []struct {
		name        string
		store       *messages.Store
		label, kind string
	}{
		{"unfiltered", f.store, "", ""},
		{"content type", f.store, "", "text"},
		{"label index", f.store, "frustrated", ""},
		{"label index and content type", f.store, "frustrated", "text"},
		{"label filter", f.filter, "frustrated", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := base
			q.Label, q.ContentType = c.label, c.kind
			want := f.want(q)
			var got []string
			var pages [][]table.Message
			for n := 0; ; n++ {
				if n > 1000 {
					t.Fatal("walk does not end")
				}
				p, err := c.store.List(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				p = p.Cut(fitText(p.Messages, 100))
				if len(p.Keys) != len(p.Messages) || len(p.Messages) == 0 && p.MayHaveMore {
					t.Fatalf("page %d: %d messages, %d keys, mayHaveMore %v", n, len(p.Messages), len(p.Keys), p.MayHaveMore)
				}
				got = append(got, ids(p.Messages)...)
				pages = append(pages, p.Messages)
				if !p.MayHaveMore {
					break
				}
				q.Before = p.Next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %d, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
			// Every page but the last is as full as the bound allows.
			for i := 0; i+1 < len(pages); i++ {
				used := 0
				for _, m := range pages[i] {
					used += len(m.Text)
				}
				if next := pages[i+1][0]; used+len(next.Text) <= 100 {
					t.Fatalf("page %d ends at %d bytes, but %s (%d bytes) would have fitted", i, used, next.MessageID, len(next.Text))
				}
			}
			if len(pages) < len(want)/10 {
				t.Fatalf("%d messages in %d pages: the bound did not cut them", len(want), len(pages))
			}
		})
	}
}

// MaxBytes stops a filtered page's reads after the call that passed it; a
// page without it reads on to fill its limit.
func TestMaxBytesStopsReading(t *testing.T) {
	f := newFixture(t, messages.Budget{}, manyMessages(1500, 11))
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 200, Label: "frustrated"}
	unbounded, err := f.filter.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	q.MaxBytes = 1
	bounded, err := f.filter.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if unbounded.Stats.Calls < 2 || bounded.Stats.Calls != 1 || !bounded.MayHaveMore || len(bounded.Messages) == 0 {
		t.Fatalf("calls %d without MaxBytes, %d with (%d messages, mayHaveMore %v): want several, then one",
			unbounded.Stats.Calls, bounded.Stats.Calls, len(bounded.Messages), bounded.MayHaveMore)
	}
}

// Cut keeps a page's first message, so that a page always moves the list on,
// and leaves a page shorter than n as it is.
func TestCutBounds(t *testing.T) {
	msgs := []table.Message{msg("c", 3, "text"), msg("b", 2, "text"), msg("a", 1, "text")}
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = table.MessageSK(m.Timestamp, m.MessageID)
	}
	p := messages.Page{Messages: msgs, Keys: keys}
	for _, tc := range []struct{ n, want int }{{0, 1}, {1, 1}, {2, 2}, {3, 3}, {9, 3}} {
		c := p.Cut(tc.n)
		if len(c.Messages) != tc.want || c.MayHaveMore != (tc.want < 3) || (c.Next != nil) != c.MayHaveMore {
			t.Errorf("Cut(%d): %d messages, mayHaveMore %v, next %v; want %d", tc.n, len(c.Messages), c.MayHaveMore, c.Next, tc.want)
		}
	}
}

// Stats.Path says which read path served a page, for the metrics.
func TestReadPath(t *testing.T) {
	f := newFixture(t, messages.Budget{}, []table.Message{msg("a", t0.UnixMilli()+1000, "text", "x")})
	q := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 5}
	with := func(change func(*messages.Query)) messages.Query {
		c := q
		change(&c)
		return c
	}
	for _, tc := range []struct {
		name  string
		store *messages.Store
		q     messages.Query
		want  messages.ReadPath
	}{
		{"no filter", f.store, q, messages.ReadUnfiltered},
		{"contentType", f.store, with(func(q *messages.Query) { q.ContentType = "text" }), messages.ReadFilter},
		{"label on the filter path", f.filter, with(func(q *messages.Query) { q.Label = "x" }), messages.ReadFilter},
		{"label on the index", f.store, with(func(q *messages.Query) { q.Label = "x" }), messages.ReadLabelIndex},
		{"label and contentType on the index", f.store, with(func(q *messages.Query) { q.Label, q.ContentType = "x", "text" }), messages.ReadLabelIndex},
		{"nothing to read below the cursor", f.store, with(func(q *messages.Query) { q.Before = ptr(messages.PositionAt(t0.UnixMilli() - 1)) }), messages.ReadNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := tc.store.List(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if page.Stats.Path != tc.want {
				t.Fatalf("Path %v, want %v", page.Stats.Path, tc.want)
			}
			// What the page cost, for the request line and its metrics.
			if read := tc.want != messages.ReadNone; read != (page.Stats.Calls > 0) || read != (page.Stats.ReadCapacity > 0) {
				t.Fatalf("path %v: %d calls, %v read capacity", tc.want, page.Stats.Calls, page.Stats.ReadCapacity)
			}
		})
	}
}

// DynamoDB out of reach is an outage (a 503), never a bug (a 500).
func TestUnreachableIsUnavailable(t *testing.T) {
	down := dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	_, err := messages.NewStore(down, "t", messages.Budget{}).List(context.Background(),
		messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 5})
	if !errors.Is(err, clienterr.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping clienterr.ErrUnavailable", err)
	}
}
