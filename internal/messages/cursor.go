package messages

import (
	"encoding/base64"
	"strings"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/table"
)

// ErrInvalidCursor means a `before` value is neither a cursor this API issued nor
// an epoch-ms integer: a 400.
var ErrInvalidCursor = clienterr.New(clienterr.BadRequest, `"before" is not a nextCursor of this API nor an epoch-ms timestamp`)

// cursorPrefix versions the token and keeps it from ever being all digits, so a
// token and a plain epoch-ms `before` cannot be confused.
const cursorPrefix = "v1."

// Position is a place in a channel's sort-key order. A page "before" a position
// holds only messages whose sort key is strictly less than it. It never carries
// the partition: that is rebuilt from the authenticated request.
type Position struct{ sk string }

// PositionAt is the position just before every message of that millisecond, for a
// plain epoch-ms `before` ("strictly older than that instant").
func PositionAt(epochMS int64) Position { return Position{sk: table.MessageSKAt(epochMS)} }

// Token encodes the position as an opaque, URL-safe cursor.
func (p Position) Token() string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(p.sk))
}

// through is the position just after sk: nothing sorts between sk and
// sk+"\x00", so a page before it starts with the item at sk itself. A filtered
// page that stops at a match it has read but not returned continues from there,
// without reading again the rejected items between the two.
func through(sk string) Position { return Position{sk: sk + throughMark} }

const throughMark = "\x00"

// ParseCursor validates a token made by Token.
func ParseCursor(token string) (Position, error) {
	rest, ok := strings.CutPrefix(token, cursorPrefix)
	if !ok {
		return Position{}, ErrInvalidCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || !table.ValidMessageSK(strings.TrimSuffix(string(raw), throughMark)) {
		return Position{}, ErrInvalidCursor
	}
	return Position{sk: string(raw)}, nil
}

// MaxCursorLen is the length of the longest token Token makes: the longest sort
// key, a through mark, in unpadded base64.
const MaxCursorLen = len(cursorPrefix) + ((table.MaxMessageSKLen+len(throughMark))*4+2)/3
