package messages

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

// decodeItem reads a projected message item straight from its attribute
// values. It replaces attributevalue's reflection on the page's hot path (the
// largest share of the handler's own CPU in the issue-15 profile) and is
// stricter than it: the sort key and the timestamp must be there, and an
// attribute of the wrong type is an error, never a zero value. An absent or
// NULL optional attribute is the zero value; absent labels are an empty list.
func decodeItem(av map[string]types.AttributeValue) (sk string, m table.Message, err error) {
	r := itemReader{av: av}
	sk = r.string(table.SortKeyAttr, true)
	m = table.Message{
		MessageID:      r.string("messageId", false),
		Timestamp:      r.int("timestamp"),
		ConversationID: r.string("conversationId", false),
		UserName:       r.string("userName", false),
		Kind:           r.string(table.KindAttr, false),
		Source:         r.string("source", false),
		Labels:         r.strings(table.LabelsAttr),
		CustomLabelIDs: r.strings(table.CustomLabelIDsAttr),
		Text:           r.string("text", false),
	}
	if r.err != nil {
		return "", table.Message{}, r.err
	}
	return sk, m, nil
}

// itemReader reads typed attributes of one item and keeps the first error.
type itemReader struct {
	av  map[string]types.AttributeValue
	err error
}

// fail records that name is not of the type wanted. The error names the
// attribute and its type, never its value: an item's text must not reach a log.
func (r *itemReader) fail(name string, v types.AttributeValue, want string) {
	if r.err != nil {
		return
	}
	if v == nil {
		r.err = fmt.Errorf("messages: decode: %s is missing", name)
		return
	}
	r.err = fmt.Errorf("messages: decode: %s is a %T, want %s", name, v, want)
}

func (r *itemReader) string(name string, required bool) string {
	switch v := r.av[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case nil, *types.AttributeValueMemberNULL:
		if !required {
			return ""
		}
	}
	r.fail(name, r.av[name], "a string")
	return ""
}

func (r *itemReader) int(name string) int64 {
	v, ok := r.av[name].(*types.AttributeValueMemberN)
	if !ok {
		r.fail(name, r.av[name], "a number")
		return 0
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("messages: decode: %s is not a 64-bit integer", name)
	}
	return n
}

// strings reads a list of strings (as table.Message.Item writes labels) or a string
// set; absent or NULL is an empty list, never nil.
func (r *itemReader) strings(name string) []string {
	switch v := r.av[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return []string{}
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberL:
		out := make([]string, len(v.Value))
		for i, e := range v.Value {
			s, ok := e.(*types.AttributeValueMemberS)
			if !ok {
				r.fail(name+"["+strconv.Itoa(i)+"]", e, "a string")
				return nil
			}
			out[i] = s.Value
		}
		return out
	}
	r.fail(name, r.av[name], "a list of strings")
	return nil
}
