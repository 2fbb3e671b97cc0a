package table

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Label counters (docs/data-model.md, "Label counters"): per channel, one
// partition outside the label partitions holding
//
//   - a counter item per UTC day and shard, sk D#<yyyy-mm-dd>#<shard>: the
//     day's number of index items of each label (attribute CountAttr(label)),
//     the custom label ids among them (CustomAttr) and the day's number of
//     messages (TotalAttr);
//   - a presence marker per message, sk M#<message sk>: the item whose
//     creation and deletion move TotalAttr, as an index item moves its
//     label's count.
const (
	counterPrefix = "CNT#"
	daySKPrefix   = "D#"
	markerPrefix  = "M#"
	// counterLabelPrefix starts a label's count attribute; labels never hold
	// '#', so no count attribute is another attribute's name.
	counterLabelPrefix = "n#"
	dayLayout          = "2006-01-02"
)

// Attributes of a counter item.
const (
	// TotalAttr is the day's number of messages (presence markers) in a shard.
	TotalAttr = "total"
	// CustomAttr is the string set of the labels counted on the item that came
	// as custom label ids (not also as label values) when their index item was
	// created: the response's kind.
	CustomAttr = "custom"
	// VersionAttr grows with every change of the item's counts: a recount
	// writes its result only if it is still what it was before the count.
	VersionAttr = "v"
)

// CounterShards is the number of counter items per channel and day. A
// message's counts go to one of them, by a hash of its sort key, so that
// concurrent writers (batches, the rebuild, the sweep) rarely contend for one
// item; a read sums them.
const CounterShards = 4

// CounterPKPrefix starts every counter partition key.
const CounterPKPrefix = counterPrefix

// CounterPK is the counter partition of one workspace channel.
func CounterPK(workspaceID, mediumID string) string {
	return counterPrefix + workspaceID + keySep + mediumID
}

// ParseCounterPK splits a counter partition key into its workspace and medium ids.
func ParseCounterPK(pk string) (workspaceID, mediumID string, ok bool) {
	return parseChannelPK(pk, counterPrefix)
}

// DaySK is the sort key of a counter item of a UTC day (any time in it) and a shard.
func DaySK(day time.Time, shard int) string {
	return daySKPrefix + day.UTC().Format(dayLayout) + keySep + strconv.Itoa(shard)
}

// DaySKRange is the sort-key range (BETWEEN lo AND hi) of every counter item
// of the UTC days from first to last, both inclusive.
func DaySKRange(first, last time.Time) (lo, hi string) {
	// '~' sorts after every shard digit.
	return daySKPrefix + first.UTC().Format(dayLayout), daySKPrefix + last.UTC().Format(dayLayout) + keySep + "~"
}

// ParseDaySK reads a counter item's sort key: its day (at 00:00 UTC) and shard.
func ParseDaySK(sk string) (day time.Time, shard int, ok bool) {
	rest, ok := strings.CutPrefix(sk, daySKPrefix)
	if !ok {
		return time.Time{}, 0, false
	}
	d, s, ok := strings.Cut(rest, keySep)
	if !ok {
		return time.Time{}, 0, false
	}
	day, err := time.Parse(dayLayout, d)
	if err != nil {
		return time.Time{}, 0, false
	}
	shard, err = strconv.Atoi(s)
	if err != nil || shard < 0 || shard >= CounterShards {
		return time.Time{}, 0, false
	}
	return day, shard, true
}

// MessageDay is the UTC day of a message sort key, from its epoch-ms part:
// it never changes for a message, whatever time its stream records carry.
// ok is false for a string that is not a message sort key.
func MessageDay(sk string) (time.Time, bool) {
	if !ValidMessageSK(sk) {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(sk[:tsDigits], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC().Truncate(24 * time.Hour), true
}

// MessageShard is the counter shard of a message sort key.
func MessageShard(sk string) int {
	h := fnv.New32a()
	h.Write([]byte(sk))
	return int(h.Sum32() % CounterShards)
}

// CounterSK is the sort key of the counter item that counts the message with
// sort key sk; ok is false for a string that is not a message sort key.
func CounterSK(sk string) (string, bool) {
	day, ok := MessageDay(sk)
	if !ok {
		return "", false
	}
	return DaySK(day, MessageShard(sk)), true
}

// MarkerSK is the sort key of a message's presence marker.
func MarkerSK(messageSK string) string { return markerPrefix + messageSK }

// MarkerSKAt is the marker position just before every message of that
// millisecond (MessageSKAt's counterpart): markers of a time range are one
// BETWEEN range.
func MarkerSKAt(epochMS int64) string { return markerPrefix + MessageSKAt(epochMS) }

// ParseMarkerSK reads the message sort key out of a presence marker's sort key.
func ParseMarkerSK(sk string) (messageSK string, ok bool) {
	rest, ok := strings.CutPrefix(sk, markerPrefix)
	if !ok || !ValidMessageSK(rest) {
		return "", false
	}
	return rest, true
}

// CountAttr is the attribute of a counter item holding a label's count.
func CountAttr(label string) string { return counterLabelPrefix + label }

// LabelOfCountAttr is the label of a count attribute; ok is false for the
// item's other attributes.
func LabelOfCountAttr(attr string) (string, bool) {
	l, ok := strings.CutPrefix(attr, counterLabelPrefix)
	return l, ok && l != ""
}
