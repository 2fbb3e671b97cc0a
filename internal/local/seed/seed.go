// Package seed writes workspaces, channels and messages in the table's item
// format, through the AWS SDK: the demo data of the local stack, and test data.
package seed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/table"
)

// Workspace is a workspace item.
type Workspace struct {
	ID   string
	Name string
	VIP  bool
}

// Channel is a channel item of a workspace.
type Channel struct {
	WorkspaceID string
	MediumID    string
	Name        string
	Connected   bool
}

// ChannelMessages are messages of one channel.
type ChannelMessages struct {
	WorkspaceID string
	MediumID    string
	Messages    []table.Message
}

// Dataset is everything one seeding writes.
type Dataset struct {
	Workspaces []Workspace
	Channels   []Channel
	Messages   []ChannelMessages
}

// BatchWriteAPI is the part of the DynamoDB client the Writer uses.
type BatchWriteAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Writer writes items to one table.
type Writer struct {
	client  BatchWriteAPI
	table   string
	workers int
}

// NewWriter returns a Writer for table. Every message is written with its
// label index items (labelindex.MessageItems), and each channel's messages with
// their label counters (labelindex.CounterItems), computed from the messages
// given: a channel is seeded once, into a table without its messages.
func NewWriter(client BatchWriteAPI, table string) *Writer {
	return &Writer{client: client, table: table, workers: 1}
}

// WithWorkers makes Write send up to n BatchWriteItem calls at once (large data
// sets, the benchmark); the default is one.
func (w *Writer) WithWorkers(n int) *Writer {
	w.workers = max(1, n)
	return w
}

// Write puts every item of d, 25 to a batch.
func (w *Writer) Write(ctx context.Context, d Dataset) error {
	var items []map[string]types.AttributeValue
	add := func(v any) error {
		av, err := attributevalue.MarshalMap(v)
		if err == nil {
			items = append(items, av)
		}
		return err
	}
	for _, ws := range d.Workspaces {
		if !table.ValidID(ws.ID) {
			return fmt.Errorf("seed: bad workspace id %q", ws.ID)
		}
		if err := add(table.WorkspaceItem{PK: table.WorkspacePK(ws.ID), SK: table.WorkspaceSK(), VIP: ws.VIP, Name: ws.Name}); err != nil {
			return err
		}
	}
	for _, ch := range d.Channels {
		if !table.ValidID(ch.WorkspaceID) || !table.ValidID(ch.MediumID) {
			return fmt.Errorf("seed: bad channel id %q/%q", ch.WorkspaceID, ch.MediumID)
		}
		if err := add(table.ChannelItem{PK: table.WorkspacePK(ch.WorkspaceID), SK: table.ChannelSK(ch.MediumID), Connected: ch.Connected, Name: ch.Name}); err != nil {
			return err
		}
	}
	for _, cm := range d.Messages {
		for _, m := range cm.Messages {
			av, err := m.Item(cm.WorkspaceID, cm.MediumID)
			if err != nil {
				return fmt.Errorf("seed: message %q: %w", m.MessageID, err)
			}
			items = append(items, av)
			// DynamoDB Local has no Lambda to run the stream indexer: write the
			// message's label index items with it, as the indexer would.
			idx, err := labelindex.MessageItems(cm.WorkspaceID, cm.MediumID, m)
			if err != nil {
				return fmt.Errorf("seed: message %q: %w", m.MessageID, err)
			}
			items = append(items, idx...)
		}
		// And the label counters the indexer keeps with them.
		counters, err := labelindex.CounterItems(cm.WorkspaceID, cm.MediumID, cm.Messages)
		if err != nil {
			return fmt.Errorf("seed: channel %s/%s: %w", cm.WorkspaceID, cm.MediumID, err)
		}
		items = append(items, counters...)
	}
	return w.put(ctx, items)
}

// maxBatch is BatchWriteItem's limit of items per call.
const maxBatch = 25

func (w *Writer) put(ctx context.Context, items []map[string]types.AttributeValue) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starts := make(chan int)
	errs := make(chan error, w.workers)
	for range w.workers {
		go func() {
			var err error
			for start := range starts {
				if err == nil {
					if err = w.putBatch(ctx, items[start:min(start+maxBatch, len(items))]); err != nil {
						cancel()
					}
				}
			}
			errs <- err
		}()
	}
	for start := 0; start < len(items); start += maxBatch {
		if ctx.Err() != nil {
			break
		}
		starts <- start
	}
	close(starts)
	var first error
	for range w.workers {
		// A worker stopped by another's failure reports context.Canceled: keep the cause.
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	return first
}

func (w *Writer) putBatch(ctx context.Context, batch []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, 0, maxBatch)
	for _, it := range batch {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	pending := map[string][]types.WriteRequest{w.table: reqs}
	for attempt := 0; len(pending[w.table]) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 8 {
				return fmt.Errorf("seed: %d items still unprocessed", len(pending[w.table]))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		out, err := w.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("seed: batch write: %w", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}
