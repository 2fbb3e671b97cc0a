package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/messages"
)

// MaxResponseBytes bounds what the Lambda runtime sends back for one page: the
// events.APIGatewayProxyResponse as JSON, with the body inside it as a JSON
// string. Lambda refuses a synchronous response over 6 MB, and API Gateway then
// answers a bare 502 that a client cannot continue from; a page stops adding
// items before its response would pass this bound (README, "Page size").
const MaxResponseBytes = 5 << 20

// Envelope of a 200 body; the items go between prefix and the suffix that
// finish writes. TestBodyMatchesListResponse holds them to ListResponse's tags.
const (
	bodyPrefix = `{"items":[`
	// maxSuffix is the longest suffix: a three-digit count and a cursor of the
	// longest sort key (messages.MaxCursorLen).
	maxSuffixFixed = `],"returned":200,"mayHaveMore":true,"nextCursor":""}`
)

// pageBody writes a 200 body item by item and keeps the exact size the
// response will have, so that messages.Store can stop a page before it is too
// large (it is the page's messages.ByteBudget). Each item is encoded once, into
// the body itself.
//
// The size counts each body byte once, plus once more for every '"' and '\'
// in it: the runtime escapes those two when it writes the body as a JSON
// string. No other byte of the body is escaped again, since the body is the
// output of encoding/json: control characters, U+2028 and U+2029 are already
// escapes, and HTML escaping is off on both sides (TestProxyBytesExact).
type pageBody struct {
	buf   bytes.Buffer
	enc   *json.Encoder
	items int
	// fixed is the response without the body's items and suffix: status,
	// headers and the body prefix.
	fixed int
	// cost is what the items written so far add to the response.
	cost int
	// limit is what the items may add.
	limit int
	err   error
	// cur is the item being encoded, kept here so that Encode does not box a
	// copy of it on every call.
	cur Item
}

// bodies keeps the buffers of earlier pages, so that a page's body does not
// grow from nothing each time.
var bodies = sync.Pool{New: func() any {
	b := &pageBody{}
	b.enc = json.NewEncoder(&b.buf)
	b.enc.SetEscapeHTML(false)
	return b
}}

// maxPooledBody is the largest buffer kept for the next page: a page of the
// largest messages is rare, and its buffer is not held on to.
const maxPooledBody = 1 << 20

// newPageBody starts a 200 body for a response with these headers; release
// gives it back once its body is copied out.
func newPageBody(headers map[string]string, maxResponse int) (*pageBody, error) {
	b := bodies.Get().(*pageBody)
	b.buf.Reset()
	b.items, b.cost, b.err = 0, 0, nil
	// The response with an empty body, as the runtime encodes it: HTML
	// escaping off, without Encode's newline.
	if err := b.enc.Encode(events.APIGatewayProxyResponse{StatusCode: 200, Headers: headers}); err != nil {
		return nil, err
	}
	b.fixed = b.buf.Len() - 1 + escapedLen([]byte(bodyPrefix))
	b.buf.Reset()
	b.buf.WriteString(bodyPrefix)
	b.limit = maxResponse - b.fixed - escapedLen([]byte(maxSuffixFixed)) - messages.MaxCursorLen
	return b, nil
}

// release returns b to the pool; the body finish returned is then invalid.
func (b *pageBody) release() {
	if b.buf.Cap() <= maxPooledBody {
		b.cur = Item{}
		bodies.Put(b)
	}
}

// escapedLen is the length of b once written again as the content of a JSON
// string by encoding/json, for b that encoding/json wrote.
func escapedLen(b []byte) int {
	return len(b) + bytes.Count(b, []byte{'"'}) + bytes.Count(b, []byte{'\\'})
}

// Add writes m as the next item if the response still fits MaxResponseBytes
// with it; the first item is always taken (any message DynamoDB can hold fits
// an empty page, see TestLargestMessageFitsAlone).
func (b *pageBody) Add(m messages.Message) bool {
	start := b.buf.Len()
	if b.items > 0 {
		b.buf.WriteByte(',')
	}
	b.cur = item(m)
	if err := b.enc.Encode(&b.cur); err != nil {
		b.buf.Truncate(start)
		b.err = err
		return true // the handler answers 500 on b.err
	}
	b.buf.Truncate(b.buf.Len() - 1) // Encode's newline
	c := escapedLen(b.buf.Bytes()[start:])
	if b.items > 0 && b.cost+c > b.limit {
		b.buf.Truncate(start)
		return false
	}
	b.cost += c
	b.items++
	return true
}

// finish writes the rest of the body and returns it with the size of the
// whole response.
func (b *pageBody) finish(mayHaveMore bool, cursor string) (body []byte, responseBytes int) {
	start := b.buf.Len()
	b.buf.WriteString(`],"returned":`)
	b.buf.WriteString(strconv.Itoa(b.items))
	if mayHaveMore {
		b.buf.WriteString(`,"mayHaveMore":true,"nextCursor":"`)
		b.buf.WriteString(cursor) // URL-safe base64 and a prefix: nothing to escape
		b.buf.WriteString(`"}`)
	} else {
		b.buf.WriteString(`,"mayHaveMore":false}`)
	}
	return b.buf.Bytes(), b.fixed + b.cost + escapedLen(b.buf.Bytes()[start:])
}

func item(m messages.Message) Item {
	return Item{
		Timestamp:      m.Timestamp,
		Date:           time.UnixMilli(m.Timestamp).UTC().Format(dateLayout),
		ConversationID: m.ConversationID,
		UserName:       m.UserName,
		Kind:           m.Kind,
		Source:         m.Source,
		Labels:         nonNil(m.Labels),
		CustomLabelIDs: nonNil(m.CustomLabelIDs),
		Text:           m.Text,
	}
}
