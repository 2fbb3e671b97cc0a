package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// MaxResponseBytes bounds what the Lambda runtime sends back for one page: the
// events.APIGatewayProxyResponse as JSON, with the body inside it as a JSON
// string. Lambda refuses a synchronous response over 6 MB, and API Gateway then
// answers a bare 502 that a client cannot continue from; a page stops adding
// items before its response would pass this bound (docs/cursor.md).
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
// response will have, so that the handler can end a page before it is too
// large (messages.Page.Cut). Each item is encoded once, by appendItem, into a
// scratch buffer, and copied into the body if it fits.
//
// The size counts each body byte once, plus once more for every '"' and '\'
// in it: the runtime escapes those two when it writes the body as a JSON
// string. No other byte of the body is escaped again, since the body is JSON
// as encoding/json writes it: control characters, U+2028 and U+2029 are
// already escapes, and HTML escaping is off on both sides (TestProxyBytesExact).
type pageBody struct {
	body    strings.Builder
	scratch []byte
	items   int
	// fixed is the response without the body's items and suffix: status,
	// headers and the body prefix.
	fixed int
	// cost is what the items written so far add to the response.
	cost int
	// limit is what the items may add.
	limit int
	// pageItems is the page's item limit, to size the body once.
	pageItems int
}

// newPageBody starts a 200 body of at most pageItems items for a response
// with these headers.
func newPageBody(headers map[string]string, maxResponse, pageItems int) (*pageBody, error) {
	// The response with an empty body, as the runtime encodes it: HTML
	// escaping off, without Encode's newline.
	var resp bytes.Buffer
	enc := json.NewEncoder(&resp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(events.APIGatewayProxyResponse{StatusCode: 200, Headers: headers}); err != nil {
		return nil, err
	}
	b := &pageBody{pageItems: pageItems}
	b.fixed = resp.Len() - 1 + escapedLen([]byte(bodyPrefix))
	b.limit = maxResponse - b.fixed - escapedLen([]byte(maxSuffixFixed)) - messages.MaxCursorLen
	b.body.WriteString(bodyPrefix)
	return b, nil
}

// escapedLen is the length of b once written again as the content of a JSON
// string by encoding/json, for b that encoding/json wrote.
func escapedLen(b []byte) int {
	return len(b) + bytes.Count(b, []byte{'"'}) + bytes.Count(b, []byte{'\\'})
}

// Add writes m as the next item if the response still fits MaxResponseBytes
// with it; the first item is always taken (any message DynamoDB can hold fits
// an empty page: TestPageByteBudget's largest messages).
func (b *pageBody) Add(m table.Message) bool {
	b.scratch = b.scratch[:0]
	if b.items > 0 {
		b.scratch = append(b.scratch, ',')
	}
	b.scratch = appendItem(b.scratch, m)
	c := escapedLen(b.scratch)
	if b.items > 0 && b.cost+c > b.limit {
		return false
	}
	if b.items == 0 {
		// Room for a full page of items of this size at once, rather than
		// growing the body many times.
		b.body.Grow(min((len(b.scratch)+1)*b.pageItems, b.limit) + len(maxSuffixFixed) + messages.MaxCursorLen)
	}
	b.body.Write(b.scratch)
	b.cost += c
	b.items++
	return true
}

// finish writes the rest of the body and returns it with the size of the
// whole response.
func (b *pageBody) finish(mayHaveMore bool, cursor string) (body string, responseBytes int) {
	suffix := append(b.scratch[:0], `],"returned":`...)
	suffix = strconv.AppendInt(suffix, int64(b.items), 10)
	if mayHaveMore {
		suffix = append(suffix, `,"mayHaveMore":true,"nextCursor":"`...)
		suffix = append(suffix, cursor...) // URL-safe base64 and a prefix: nothing to escape
		suffix = append(suffix, `"}`...)
	} else {
		suffix = append(suffix, `,"mayHaveMore":false}`...)
	}
	b.body.Write(suffix)
	return b.body.String(), b.fixed + b.cost + escapedLen(suffix)
}
