package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// The orphan sweep: the second phase of a rebuild. The first phase (writing
// every message's index items) cannot remove an index item whose message is
// gone or no longer carries the label, e.g. after a REMOVE or a label removal
// that the indexer gave up on (its DLQ). The sweep scans the index items (of
// the whole table, or of one channel's label partitions) and deletes those.
//
// Label partitions cannot be listed without a Scan (the labels a channel's
// messages once had are not recorded anywhere), so a per-channel sweep scans
// the table too, with a begins_with filter on the channel's LBL# prefix: it
// reads (and is billed for) every item of the table, returning only that
// channel's index items.
//
// Safe beside the live indexer: candidates are found with a consistent read of
// their messages, and each is deleted in a transaction whose ConditionCheck on
// the message item requires that the message is absent or does not carry the
// label at that instant. An item the indexer has just (re)created for a message
// that now has the label is never deleted; a label added after the transaction
// reaches the index through the stream afterwards.

const sweepTokenPrefix = "s1."

// sweepToken resumes the sweep of the index items under prefix after the scan
// position pk/sk (any item of the table: a Scan's LastEvaluatedKey is the last
// item read, matched by the filter or not); empty pk: from the start.
func sweepToken(prefix, pk, sk string) string {
	if pk == "" {
		return encodeToken(sweepTokenPrefix, "")
	}
	return encodeToken(sweepTokenPrefix, prefix+"\n"+pk+"\n"+sk)
}

// SweepStartToken is the resume token of a rebuild whose first phase is done:
// it runs the orphan sweep only.
func SweepStartToken() string { return sweepToken("", "", "") }

// isSweepToken reports whether token belongs to the sweep phase.
func isSweepToken(token string) bool { return strings.HasPrefix(token, sweepTokenPrefix) }

// sweep scans the index items whose pk begins with prefix and deletes the
// orphans, from token (a sweep token) on.
//
// It sweeps the presence markers too (the message counts' items): those of the
// counter partition counterPK, or of every counter partition when it is empty.
func (r *Rebuilder) sweep(ctx context.Context, prefix, counterPK, token string, p *Progress, report func(Progress)) error {
	markers := "(#pk = :cpk AND begins_with(#sk, :m))"
	if counterPK == "" {
		markers = "(begins_with(#pk, :cpk) AND begins_with(#sk, :m))"
		counterPK = table.CounterPKPrefix
	}
	in := &dynamodb.ScanInput{
		TableName:                aws.String(r.table),
		FilterExpression:         aws.String("begins_with(#pk, :prefix) OR " + markers),
		ExpressionAttributeNames: map[string]string{"#pk": table.PartitionKeyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":prefix": &types.AttributeValueMemberS{Value: prefix},
			":cpk":    &types.AttributeValueMemberS{Value: counterPK},
			":m":      &types.AttributeValueMemberS{Value: table.MarkerSK("")},
		},
		// Only the keys: the decision reads the message, not the index item.
		ProjectionExpression: aws.String("#pk, #sk"),
		// Eventually consistent: an orphan is old by the time a sweep runs, and
		// each candidate is re-checked against the message with strong reads.
		Limit: aws.Int32(int32(r.pageSize())),
	}
	in.ExpressionAttributeNames["#sk"] = table.SortKeyAttr
	raw, err := decodeToken(token, sweepTokenPrefix)
	if err != nil {
		return ErrBadToken
	}
	if raw != "" {
		parts := strings.Split(raw, "\n")
		if len(parts) != 3 || parts[0] != prefix || parts[1] == "" || parts[2] == "" {
			return ErrBadToken
		}
		pk, sk := parts[1], parts[2]
		in.ExclusiveStartKey = table.Key(pk, sk)
	}
	for {
		out, err := r.client.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("labelindex: scan index items: %w", err)
		}
		if err := r.sweepPage(ctx, out.Items, p); err != nil {
			return err
		}
		p.SweepPages++
		p.Token = ""
		if out.LastEvaluatedKey != nil {
			pk, _ := out.LastEvaluatedKey[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
			sk, _ := out.LastEvaluatedKey[table.SortKeyAttr].(*types.AttributeValueMemberS)
			if pk == nil || sk == nil {
				return errors.New("labelindex: LastEvaluatedKey without pk and sk")
			}
			p.Token = sweepToken(prefix, pk.Value, sk.Value)
		}
		if report != nil {
			report(*p)
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// indexRef is an index item or a presence marker (marker, no label) found by
// the sweep, parsed.
type indexRef struct {
	workspaceID, mediumID, label, sk string
	marker                           bool
}

func (x indexRef) key() labelindex.MessageKey {
	return labelindex.MessageKey{WorkspaceID: x.workspaceID, MediumID: x.mediumID, SK: x.sk}
}

// sweepPage checks a page of index items against their messages and deletes
// the orphans.
func (r *Rebuilder) sweepPage(ctx context.Context, items []map[string]types.AttributeValue, p *Progress) error {
	var refs []indexRef
	var msgs []labelindex.MessageKey
	seen := map[labelindex.MessageKey]bool{}
	for _, it := range items {
		pk, _ := it[table.PartitionKeyAttr].(*types.AttributeValueMemberS)
		sk, _ := it[table.SortKeyAttr].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			continue
		}
		var x indexRef
		if ws, medium, label, ok := table.ParseLabelPK(pk.Value); ok && table.ValidMessageSK(sk.Value) {
			x = indexRef{workspaceID: ws, mediumID: medium, label: label, sk: sk.Value}
		} else if ws, medium, ok := table.ParseCounterPK(pk.Value); ok {
			msk, isMarker := table.ParseMarkerSK(sk.Value)
			if !isMarker {
				continue // a counter item
			}
			x = indexRef{workspaceID: ws, mediumID: medium, sk: msk, marker: true}
		} else {
			// Not an item this package writes: leave it alone.
			p.Skipped++
			continue
		}
		p.Checked++
		refs = append(refs, x)
		if !seen[x.key()] {
			seen[x.key()] = true
			msgs = append(msgs, x.key())
		}
	}
	if len(refs) == 0 {
		return nil
	}
	now, _, err := labelindex.Read(ctx, r.client, r.table, msgs)
	if err != nil {
		return err
	}
	for _, x := range refs {
		if m, ok := now[x.key()]; ok && (x.marker || slices.Contains(labelindex.Labels(x.workspaceID, x.mediumID, m.Message), x.label)) {
			continue
		}
		deleted, err := r.deleteOrphan(ctx, x)
		if err != nil {
			return err
		}
		if deleted {
			p.Orphans++
		}
	}
	return nil
}

// deleteOrphan deletes an index item if, at that instant, its message is absent
// or does not carry the label (a presence marker: if the message is absent),
// with its counter's -1. deleted is false when the message has the label again
// (the item is kept).
func (r *Rebuilder) deleteOrphan(ctx context.Context, x indexRef) (deleted bool, err error) {
	check := &types.ConditionCheck{
		TableName:                aws.String(r.table),
		Key:                      table.Key(table.MessagePK(x.workspaceID, x.mediumID), x.sk),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PartitionKeyAttr},
	}
	t := labelindex.PresenceTarget(x.key(), false)
	if !x.marker {
		check.ConditionExpression = aws.String("attribute_not_exists(#pk) OR NOT (contains(#labels, :label) OR contains(#custom, :label))")
		check.ExpressionAttributeNames["#labels"] = table.LabelsAttr
		check.ExpressionAttributeNames["#custom"] = table.CustomLabelIDsAttr
		check.ExpressionAttributeValues = map[string]types.AttributeValue{":label": &types.AttributeValueMemberS{Value: x.label}}
		t = labelindex.Target{Label: x.label, Key: x.key().IndexKey(x.label), Msg: x.key()}
	}
	items := append([]types.TransactWriteItem{{ConditionCheck: check}}, labelindex.Deletion(r.table, t)...)
	failed, err := labelindex.Transact(ctx, r.client, items)
	if err != nil {
		return false, fmt.Errorf("labelindex: delete orphan index item: %w", err)
	}
	// failed[0]: the message carries the label (again), keep the item;
	// failed[1]: the item is gone already.
	return !failed[0] && !failed[1], nil
}
