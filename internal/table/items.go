package table

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Message is one stored message's attributes.
type Message struct {
	MessageID      string   `dynamodbav:"messageId"`
	Timestamp      int64    `dynamodbav:"timestamp"`
	ConversationID string   `dynamodbav:"conversationId"`
	UserName       string   `dynamodbav:"userName"`
	Kind           string   `dynamodbav:"kind"`
	Source         string   `dynamodbav:"source"`
	Labels         []string `dynamodbav:"labels"`
	CustomLabelIDs []string `dynamodbav:"customLabelIds"`
	Text           string   `dynamodbav:"text"`
}

// MessageItem is a message under a key: at MessagePK, or a copy of it at a
// LabelPK (a label index item), always under the message's own MessageSK.
type MessageItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Message
}

// WorkspaceItem is a workspace, at WorkspacePK and WorkspaceSK.
type WorkspaceItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	VIP  bool   `dynamodbav:"vip"`
	Name string `dynamodbav:"name"`
}

// ChannelItem is a channel of a workspace, at WorkspacePK and ChannelSK.
type ChannelItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Connected bool   `dynamodbav:"connected"`
	Name      string `dynamodbav:"name"`
}

// Item returns the DynamoDB item of a message in a workspace channel, or an
// error when an id or label could not be part of its keys.
func (m Message) Item(workspaceID, mediumID string) (map[string]types.AttributeValue, error) {
	if !ValidID(workspaceID) || !ValidID(mediumID) || !ValidID(m.MessageID) {
		return nil, fmt.Errorf("ids must be non-empty and must not contain %q", keySep)
	}
	if !ValidMessageSK(MessageSK(m.Timestamp, m.MessageID)) {
		return nil, fmt.Errorf("message %q: the timestamp must be 0..9999999999999 ms and the id at most %d bytes of UTF-8 without control characters", m.MessageID, MaxMessageIDLen)
	}
	for _, l := range append(slices.Clone(m.Labels), m.CustomLabelIDs...) {
		if !ValidLabel(l) {
			return nil, fmt.Errorf("label %q: labels must be 1-%d characters without %q or control characters", l, MaxLabelLen, keySep)
		}
	}
	str := func(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
	list := func(l []string) types.AttributeValue {
		av := make([]types.AttributeValue, len(l))
		for i, s := range l {
			av[i] = str(s)
		}
		return &types.AttributeValueMemberL{Value: av}
	}
	// What attributevalue.MarshalMap writes for MessageItem (TestMessageItem
	// holds it to that), written out so that the functions that never write a
	// message do not link attributevalue and the DynamoDB Streams schemas it
	// initialises at start.
	return map[string]types.AttributeValue{
		PartitionKeyAttr:   str(MessagePK(workspaceID, mediumID)),
		SortKeyAttr:        str(MessageSK(m.Timestamp, m.MessageID)),
		"messageId":        str(m.MessageID),
		"timestamp":        &types.AttributeValueMemberN{Value: strconv.FormatInt(m.Timestamp, 10)},
		"conversationId":   str(m.ConversationID),
		"userName":         str(m.UserName),
		KindAttr:           str(m.Kind),
		"source":           str(m.Source),
		LabelsAttr:         list(m.Labels),
		CustomLabelIDsAttr: list(m.CustomLabelIDs),
		"text":             str(m.Text),
	}, nil
}

// WithLabelLists is m with empty label lists instead of nil ones, so that the
// attributes are stored as empty lists, never as NULL.
func (m Message) WithLabelLists() Message {
	if m.Labels == nil {
		m.Labels = []string{}
	}
	if m.CustomLabelIDs == nil {
		m.CustomLabelIDs = []string{}
	}
	return m
}
