// Package messages lists a channel's messages from DynamoDB, newest first, one
// page at a time, with a cursor that continues the list exactly.
package messages

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/table"
)

// Query selects one page of a channel's messages.
type Query struct {
	WorkspaceID, MediumID string
	// From is inclusive and Until exclusive; both are rounded up to the millisecond.
	From, Until time.Time
	// Label matches a message whose labels or customLabelIds hold it; empty: any.
	Label string
	// ContentType matches the message kind; empty: any.
	ContentType string
	// Limit is the page size, at least 1.
	Limit int
	// Before, when set, keeps only messages strictly before this position.
	Before *Position
	// MaxBytes, when positive, is the most the caller can return of a page, in
	// encoded bytes: the store makes no further Query call once the messages it
	// holds take more than that, counting the raw bytes of their strings (which
	// no encoding shrinks). The caller then ends the page with Cut.
	MaxBytes int
}

// Page is one page of messages, newest first.
type Page struct {
	Messages []table.Message
	// Keys holds the sort key of each message (Keys[i] is Messages[i]'s), for Cut.
	Keys []string
	// MayHaveMore is exact for unfiltered pages and for label pages read from
	// the label index; with a FilterExpression (contentType, or a label on the
	// filter path) it is true whenever unread items remain in the window,
	// matching or not.
	MayHaveMore bool
	// Next continues the list; set exactly when MayHaveMore is.
	Next  *Position
	Stats Stats
}

// Cut ends the page before its message n, as a page full at n messages ends:
// MayHaveMore, and Next at message n (the through shape), so that the next
// page starts with it and no rejected item before it is read again. The API
// cuts a page whose response would be too large. A page keeps at least its
// first message, so that every page moves the list on; n at or past the
// end leaves the page as it is.
func (p Page) Cut(n int) Page {
	n = max(n, 1)
	if n >= len(p.Messages) {
		return p
	}
	next := through(p.Keys[n])
	p.Messages, p.Keys = p.Messages[:n], p.Keys[:n]
	p.MayHaveMore, p.Next = true, &next
	return p
}

// Stats is what a page cost.
type Stats struct {
	Calls        int
	ItemsRead    int
	ReadCapacity float64
	// Path is how the page was read; ReadNone when no Query was needed.
	Path ReadPath
}

// ReadPath is the way a page was read, for metrics.
type ReadPath int

const (
	// ReadNone: the window held nothing below the cursor; no Query was made.
	ReadNone ReadPath = iota
	// ReadUnfiltered: the channel's partition, every item read is returned.
	ReadUnfiltered
	// ReadFilter: the channel's partition with a FilterExpression (a
	// contentType, or a label on LabelViaFilter): items read may be rejected.
	ReadFilter
	// ReadLabelIndex: the label's index partition (a contentType filter may
	// apply on top).
	ReadLabelIndex
)

// Budget bounds the DynamoDB work of one request.
type Budget struct {
	// MaxCalls is the number of Query calls per page.
	MaxCalls int
	// MaxItems is the number of items read per page when a filter is set.
	MaxItems int
}

// DefaultBudget is used when a Store is given a zero Budget.
var DefaultBudget = Budget{MaxCalls: 8, MaxItems: 4000}

// QueryAPI is the part of the DynamoDB client a Store uses.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// LabelPath is how a Store answers a query with a Label.
type LabelPath int

const (
	// LabelViaIndex reads the label's index partition (table.LabelPK), kept by the
	// label indexer: a label page reads about what it returns. The default.
	LabelViaIndex LabelPath = iota
	// LabelViaFilter reads the channel's messages with a FilterExpression on
	// labels/customLabelIds, within the Budget: no index needed, but it reads
	// every message of the window to find the matches.
	LabelViaFilter
)

func (p LabelPath) String() string {
	if p == LabelViaFilter {
		return "filter"
	}
	return "index"
}

// Option configures a Store.
type Option func(*Store)

// WithLabelPath picks how label queries are answered (default LabelViaIndex).
func WithLabelPath(p LabelPath) Option { return func(s *Store) { s.labelPath = p } }

// Store reads messages from one table.
type Store struct {
	client    QueryAPI
	table     string
	budget    Budget
	labelPath LabelPath
}

// NewStore returns a Store over table; a zero budget field takes its default.
func NewStore(client QueryAPI, table string, budget Budget, opts ...Option) *Store {
	if budget.MaxCalls <= 0 {
		budget.MaxCalls = DefaultBudget.MaxCalls
	}
	if budget.MaxItems <= 0 {
		budget.MaxItems = DefaultBudget.MaxItems
	}
	s := &Store{client: client, table: table, budget: budget}
	for _, o := range opts {
		o(s)
	}
	return s
}

// The Query's expressions are the same for every page; only their values
// change. They are written once here instead of by expression.Builder on
// every request (issue 15's profile); the names map is shared and never
// written to.
var (
	// projected are the attributes a page reads: the message and its sort key.
	projected = []string{table.SortKeyAttr, "messageId", "timestamp", "conversationId",
		"userName", table.KindAttr, "source", table.LabelsAttr, table.CustomLabelIDsAttr, "text"}
	projection = "#" + strings.Join(projected, ", #")
	exprNames  = func() map[string]string {
		names := map[string]string{"#" + table.PartitionKeyAttr: table.PartitionKeyAttr}
		for _, a := range projected {
			names["#"+a] = a
		}
		return names
	}()
)

const (
	keyCondition = "#" + table.PartitionKeyAttr + " = :pk AND #" + table.SortKeyAttr + " BETWEEN :lo AND :hi"
	labelFilter  = "(contains(#" + table.LabelsAttr + ", :label) OR contains(#" + table.CustomLabelIDsAttr + ", :label))"
	kindFilter   = "#" + table.KindAttr + " = :kind"
)

// maxGrowth bounds how much larger a filtered read is than the one before.
const maxGrowth = 8

// nextRead sizes a filtered read from the share of matches seen so far: large
// enough to fill the page in one more call, small enough that few read items are
// left behind the page's last match (those are read again by the next page).
func nextRead(need, prev, matched, scanned int) int {
	if prev == 0 {
		return need + 1
	}
	if matched == 0 {
		return prev * maxGrowth
	}
	// need / (matched/scanned), with a 10% margin.
	est := need*scanned*11/(matched*10) + 1
	return max(need+1, min(est, prev*maxGrowth))
}

// List returns one page. A Before outside the window gives the page the window
// holds below it, possibly empty; it never reaches DynamoDB as an out-of-range key.
func (s *Store) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("messages: limit %d", q.Limit)
	}
	lo, hi := table.MessageSKAt(ceilMS(q.From)), table.MessageSKAt(ceilMS(q.Until))
	upper := hi
	if q.Before != nil && q.Before.sk < upper {
		upper = q.Before.sk
	}
	if upper <= lo {
		return Page{Messages: []table.Message{}}, nil
	}

	// The label index holds, under table.LabelPK, a copy of every message carrying the
	// label with the message's own sort key: the same key range, the same
	// cursor, and only the content type left to filter.
	pk := table.MessagePK(q.WorkspaceID, q.MediumID)
	path := ReadUnfiltered
	if q.Label != "" && s.labelPath == LabelViaIndex {
		path = ReadLabelIndex
		if !table.ValidLabel(q.Label) {
			return Page{}, fmt.Errorf("messages: label %q cannot be indexed", q.Label)
		}
		pk = table.LabelPK(q.WorkspaceID, q.MediumID, q.Label)
		q.Label = ""
	}
	values := map[string]types.AttributeValue{
		":pk": &types.AttributeValueMemberS{Value: pk},
		":lo": &types.AttributeValueMemberS{Value: lo},
		":hi": &types.AttributeValueMemberS{Value: hi},
	}
	filter := filterFor(q, values)
	filtered := filter != nil
	if filtered && path == ReadUnfiltered {
		path = ReadFilter
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String(keyCondition),
		FilterExpression:          filter,
		ProjectionExpression:      aws.String(projection),
		ExpressionAttributeNames:  exprNames,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	}
	// BETWEEN includes hi, but no message key equals a bare time prefix, so the
	// window stays end-exclusive; any lower start is inside the range by now.
	if upper != hi {
		in.ExclusiveStartKey = table.Key(pk, upper)
	}

	page := Page{Messages: make([]table.Message, 0, min(q.Limit, 64)), Keys: make([]string, 0, min(q.Limit, 64)), Stats: Stats{Path: path}}
	read, held := 0, 0
	for {
		need := q.Limit - len(page.Messages)
		if filtered {
			read = nextRead(need, read, len(page.Messages), page.Stats.ItemsRead)
			read = min(read, s.budget.MaxItems-page.Stats.ItemsRead)
		} else {
			read = need + 1
		}
		in.Limit = aws.Int32(int32(read))
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return Page{}, fmt.Errorf("messages: query: %w", clienterr.Outage(err))
		}
		page.Stats.Calls++
		page.Stats.ItemsRead += int(out.ScannedCount)
		if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
			page.Stats.ReadCapacity += *out.ConsumedCapacity.CapacityUnits
		}

		for i, av := range out.Items {
			sk, m, err := decodeItem(av)
			if err != nil {
				return Page{}, err
			}
			// Full with a match left over: the next page starts at that match,
			// and the rejected items read before it are not read again.
			if i == need {
				next := through(sk)
				page.MayHaveMore, page.Next = true, &next
				return page, nil
			}
			page.Messages = append(page.Messages, m)
			page.Keys = append(page.Keys, sk)
			held += rawSize(m)
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		// Everything read up to LastEvaluatedKey was returned or rejected, so the
		// cursor continues from there: no rejected item is read twice.
		last, err := sortKeyOf(out.LastEvaluatedKey)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		spent := page.Stats.Calls >= s.budget.MaxCalls ||
			(filtered && page.Stats.ItemsRead >= s.budget.MaxItems) ||
			(q.MaxBytes > 0 && held > q.MaxBytes)
		if len(page.Messages) == q.Limit || spent {
			page.MayHaveMore = true
			page.Next = &Position{sk: last}
			return page, nil
		}
	}
}

// rawSize is the bytes of the strings of m that a response carries (not its
// id): less than any JSON encoding of them.
func rawSize(m table.Message) int {
	n := len(m.ConversationID) + len(m.UserName) + len(m.Kind) + len(m.Source) + len(m.Text)
	for _, l := range m.Labels {
		n += len(l)
	}
	for _, l := range m.CustomLabelIDs {
		n += len(l)
	}
	return n
}

// filterFor returns the FilterExpression of q, adding its values; nil when
// every item read is returned.
func filterFor(q Query, values map[string]types.AttributeValue) *string {
	var conds []string
	if q.Label != "" {
		conds = append(conds, labelFilter)
		values[":label"] = &types.AttributeValueMemberS{Value: q.Label}
	}
	if q.ContentType != "" {
		conds = append(conds, kindFilter)
		values[":kind"] = &types.AttributeValueMemberS{Value: q.ContentType}
	}
	if len(conds) == 0 {
		return nil
	}
	return aws.String(strings.Join(conds, " AND "))
}

func sortKeyOf(k map[string]types.AttributeValue) (string, error) {
	if s, ok := k[table.SortKeyAttr].(*types.AttributeValueMemberS); ok {
		return s.Value, nil
	}
	return "", fmt.Errorf("messages: LastEvaluatedKey without a string %s", table.SortKeyAttr)
}

// ceilMS is t in epoch milliseconds, rounded up, so that "at or after t" holds
// for whole-millisecond timestamps.
func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
