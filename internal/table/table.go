// Package table is the single-table schema (docs/data-model.md) in one place:
// the key builders, the item types and attribute names, and the rules an id or
// a label must follow to be part of a key. Every package that reads or writes
// the table builds its keys here, so that the layout cannot drift between them.
package table

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the table's key; internal/deploy checks them against
// template.yaml.
const (
	PartitionKeyAttr = "pk"
	SortKeyAttr      = "sk"
)

// Attribute names that queries, filters and updates name. The item types' tags
// spell the same names (TestTagsMatchAttributeNames).
const (
	VIPAttr            = "vip"
	ConnectedAttr      = "connected"
	NameAttr           = "name"
	KindAttr           = "kind"
	LabelsAttr         = "labels"
	CustomLabelIDsAttr = "customLabelIds"
)

// Key prefixes. Ids never contain keySep, so a key splits back unambiguously.
const (
	messagePrefix   = "MSG#"
	workspacePrefix = "WS#"
	channelPrefix   = "CH#"
	labelPrefix     = "LBL#"
	workspaceSK     = "WS"
	keySep          = "#"
	// tsDigits is the zero-padded width of the epoch-ms part of a message sort key,
	// so that string order is time order until the year 2286.
	tsDigits = 13
)

// MaxMessageIDLen bounds the id part of a message sort key (and so of a
// cursor); DynamoDB sort keys are at most 1024 bytes.
const MaxMessageIDLen = 512

// MaxMessageSKLen is the length of the longest message sort key, in bytes.
const MaxMessageSKLen = tsDigits + 1 + MaxMessageIDLen

// Key is the key of the item at pk, sk.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PartitionKeyAttr: &types.AttributeValueMemberS{Value: pk},
		SortKeyAttr:      &types.AttributeValueMemberS{Value: sk},
	}
}

// MessagePKPrefix starts every message partition key (the indexer's stream
// filter matches it).
const MessagePKPrefix = messagePrefix

// MessagePK is the partition of one workspace channel's messages.
func MessagePK(workspaceID, mediumID string) string {
	return messagePrefix + workspaceID + keySep + mediumID
}

// MessageSK orders messages by time, with the message id breaking ties so that two
// messages of one millisecond never overwrite each other.
func MessageSK(epochMS int64, messageID string) string {
	return MessageSKAt(epochMS) + keySep + messageID
}

// MessageSKAt is the sort-key position just before every message of that
// millisecond: "ts#id" sorts after "ts", and all earlier milliseconds before it.
func MessageSKAt(epochMS int64) string {
	return fmt.Sprintf("%0*d", tsDigits, epochMS)
}

// ParseMessagePK splits a message partition key into its workspace and medium ids.
func ParseMessagePK(pk string) (workspaceID, mediumID string, ok bool) {
	return parseChannelPK(pk, messagePrefix)
}

// parseChannelPK splits a partition key of prefix, a workspace id, the
// separator and a medium id.
func parseChannelPK(pk, prefix string) (workspaceID, mediumID string, ok bool) {
	rest, ok := strings.CutPrefix(pk, prefix)
	if !ok {
		return "", "", false
	}
	workspaceID, mediumID, ok = strings.Cut(rest, keySep)
	if !ok || !ValidID(workspaceID) || !ValidID(mediumID) {
		return "", "", false
	}
	return workspaceID, mediumID, true
}

// ValidMessageSK accepts exactly the message sort-key shape: 13 digits, '#', and
// a non-empty UTF-8 id without '#' or control characters. A cursor may carry
// no other shape, and writers reject messages whose key would not have it.
func ValidMessageSK(sk string) bool {
	if len(sk) < tsDigits+2 || len(sk) > MaxMessageSKLen || sk[tsDigits] != '#' {
		return false
	}
	for i := 0; i < tsDigits; i++ {
		if sk[i] < '0' || sk[i] > '9' {
			return false
		}
	}
	return plainKeyPart(sk[tsDigits+1:])
}

// plainKeyPart reports whether s is valid UTF-8 without the key separator or
// control characters (\p{Cc}): what a message id and a label may hold.
func plainKeyPart(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return r == '#' || unicode.IsControl(r)
	})
}

// LabelPKPrefix starts every label index partition key.
const LabelPKPrefix = labelPrefix

// LabelPK is the label index partition of one label of one workspace channel:
// one item per message carrying the label, under the message's own sort key.
func LabelPK(workspaceID, mediumID, label string) string {
	return labelPrefix + workspaceID + keySep + mediumID + keySep + label
}

// ParseLabelPK splits a label index partition key into its workspace, medium
// and label.
func ParseLabelPK(pk string) (workspaceID, mediumID, label string, ok bool) {
	rest, ok := strings.CutPrefix(pk, labelPrefix)
	if !ok {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, keySep, 3)
	if len(parts) != 3 || !ValidID(parts[0]) || !ValidID(parts[1]) || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// WorkspacePK is the partition holding a workspace item and its channel items,
// so that one BatchGetItem reads both.
func WorkspacePK(workspaceID string) string { return workspacePrefix + workspaceID }

// WorkspaceSK is the sort key of the workspace item itself.
func WorkspaceSK() string { return workspaceSK }

// ChannelSK is the sort key of a channel item under its workspace.
func ChannelSK(mediumID string) string { return channelPrefix + mediumID }

// ValidID reports whether s can be part of a key as a workspace, medium or
// message id: it must not contain the key separator.
func ValidID(s string) bool { return s != "" && !strings.Contains(s, keySep) }

// IDPattern and MaxIDLen are the stricter rule for the workspace and medium ids
// that clients ask for and vipctl registers (openapi.yaml, components/schemas/Id).
// Checked by hand rather than compiled (FuzzRulesMatchPatterns holds them
// equal): compiling is a tenth of a millisecond of every function's INIT.
const IDPattern = `^[A-Za-z0-9._:-]+$`

// MaxIDLen is the longest workspace or medium id a client may name, in bytes.
const MaxIDLen = 128

// ValidPublicID reports whether s follows IDPattern and MaxIDLen.
func ValidPublicID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// MaxLabelLen is the longest label value or custom label id, in characters.
const MaxLabelLen = 128

// LabelPattern is the rule for a label value or custom label id, as the API's
// schema states it: no key separator, no control characters.
const LabelPattern = `^[^#\p{Cc}]+$`

// ValidLabel reports whether s can be stored and queried as a label: valid
// UTF-8, 1 to MaxLabelLen characters, LabelPattern.
func ValidLabel(s string) bool {
	return s != "" && utf8.RuneCountInString(s) <= MaxLabelLen && plainKeyPart(s)
}

// Between is a Query of the items of partition pk whose sort key is from lo to
// hi, both included; the caller sets what else the read needs (projection,
// consistency, Limit, Select).
func Between(tableName, pk, lo, hi string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                aws.String(tableName),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKeyAttr, "#sk": SortKeyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		},
	}
}
