package api

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vip-messages/api/internal/table"
)

// appendItem appends the JSON of m's Item, byte for byte what encoding/json
// writes for it with HTML escaping off (FuzzAppendItem checks it). A page
// writes up to 200 of them, and reflection over Item was most of a warm
// page's encoding time (issue 15).
func appendItem(dst []byte, m table.Message) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, m.Timestamp, 10)
	dst = append(dst, `,"date":"`...)
	dst = time.UnixMilli(m.Timestamp).UTC().AppendFormat(dst, dateLayout)
	dst = append(dst, `","conversationId":`...)
	dst = appendString(dst, m.ConversationID)
	dst = append(dst, `,"userName":`...)
	dst = appendString(dst, m.UserName)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, m.Kind)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, m.Source)
	dst = append(dst, `,"labels":`...)
	dst = appendStrings(dst, m.Labels)
	dst = append(dst, `,"customLabelIds":`...)
	dst = appendStrings(dst, m.CustomLabelIDs)
	dst = append(dst, `,"text":`...)
	dst = appendString(dst, m.Text)
	return append(dst, '}')
}

// appendStrings writes a nil list as [], as the contract wants.
func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does without
// HTML escaping: '"' and '\' escaped, control characters as \b \f \n \r \t or
// \u00XX, invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
