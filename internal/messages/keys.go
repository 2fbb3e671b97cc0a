package messages

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Attribute names of the table's key; template_test checks them against template.yaml.
const (
	PartitionKeyAttr = "pk"
	SortKeyAttr      = "sk"
)

// Key prefixes of the single-table design (docs/data-model.md). Ids never contain '#'.
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

// MessagePK is the partition of one workspace channel's messages.
func MessagePK(workspaceID, mediumID string) string {
	return messagePrefix + workspaceID + keySep + mediumID
}

// MessageSK orders messages by time, with the message id breaking ties so that two
// messages of one millisecond never overwrite each other.
func MessageSK(epochMS int64, messageID string) string {
	return timePrefix(epochMS) + keySep + messageID
}

// MessagePKPrefix starts every message partition key (the indexer's stream
// filter matches it).
const MessagePKPrefix = messagePrefix

// LabelPKPrefix starts every label index partition key.
const LabelPKPrefix = labelPrefix

// LabelPK is the label index partition of one label of one workspace channel:
// one item per message carrying the label, under the message's own sort key.
func LabelPK(workspaceID, mediumID, label string) string {
	return labelPrefix + workspaceID + keySep + mediumID + keySep + label
}

// ParseMessagePK splits a message partition key into its workspace and medium ids.
func ParseMessagePK(pk string) (workspaceID, mediumID string, ok bool) {
	rest, ok := strings.CutPrefix(pk, messagePrefix)
	if !ok {
		return "", "", false
	}
	workspaceID, mediumID, ok = strings.Cut(rest, keySep)
	if !ok || !ValidID(workspaceID) || !ValidID(mediumID) {
		return "", "", false
	}
	return workspaceID, mediumID, true
}

// ValidMessageSK reports whether sk has the message sort-key shape.
func ValidMessageSK(sk string) bool { return validSortKey(sk) }

// WorkspacePK is the partition holding a workspace item and its channel items.
func WorkspacePK(workspaceID string) string { return workspacePrefix + workspaceID }

// WorkspaceSK is the sort key of the workspace item itself.
func WorkspaceSK() string { return workspaceSK }

// ChannelSK is the sort key of a channel item under its workspace.
func ChannelSK(mediumID string) string { return channelPrefix + mediumID }

// timePrefix is the sort-key position just before every message of that
// millisecond: "ts#id" sorts after "ts", and all earlier milliseconds before it.
func timePrefix(epochMS int64) string {
	return fmt.Sprintf("%0*d", tsDigits, epochMS)
}

// MaxLabelLen is the longest label value or custom label id, in characters.
const MaxLabelLen = 128

// LabelPattern is the rule for a label value or custom label id, as the API's
// schema states it: no key separator, no control characters.
var LabelPattern = regexp.MustCompile(`^[^#\p{Cc}]+$`)

// ValidLabel reports whether s can be stored and queried as a label.
func ValidLabel(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= MaxLabelLen && LabelPattern.MatchString(s)
}

// ValidID reports whether s can be used as a workspace, medium or message id: it
// must not contain the key separator.
func ValidID(s string) bool { return s != "" && !strings.Contains(s, keySep) }
