package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/messages"
)

func init() {
	register(&command{name: "workspaces", summary: "register workspaces (DynamoDB)", subs: []*command{
		{name: "put", args: "--vip|--vip=false [--name N] [--table T] ID", summary: "create or update a workspace (--vip=false makes it non-VIP)", run: workspacesPut},
	}})
	register(&command{name: "channels", summary: "connect channels to workspaces (DynamoDB)", subs: []*command{
		{name: "connect", args: "[--name N] [--table T] WORKSPACE MEDIUM", summary: "create or reconnect a channel of an existing workspace", run: channelsConnect},
		{name: "disconnect", args: "[--table T] WORKSPACE MEDIUM", summary: "mark a channel not connected (the API answers 404 for it)", run: channelsDisconnect},
	}})
}

// Attribute names of workspace and channel items (docs/data-model.md), as
// internal/local/seed writes them and internal/access reads them.
const (
	attrVIP       = "vip"
	attrConnected = "connected"
	attrName      = "name"
)

func checkIDs(f *flags, what []string, ids []string) error {
	for i, id := range ids {
		if !workspacePattern.MatchString(id) {
			return f.usageErr("%s %q: want 1-128 of [A-Za-z0-9._:-]", what[i], id)
		}
	}
	return nil
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		messages.PartitionKeyAttr: &types.AttributeValueMemberS{Value: pk},
		messages.SortKeyAttr:      &types.AttributeValueMemberS{Value: sk},
	}
}

// update sets attributes of one item, creating it unless cond says otherwise.
func update(ctx context.Context, db *dynamodb.Client, table, pk, sk string, set expression.UpdateBuilder, cond *expression.ConditionBuilder) error {
	b := expression.NewBuilder().WithUpdate(set)
	if cond != nil {
		b = b.WithCondition(*cond)
	}
	expr, err := b.Build()
	if err != nil {
		return err
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       itemKey(pk, sk),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	return err
}

func workspacesPut(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "--vip|--vip=false [--name N] [--table T] ID")
	vip := f.Bool("vip", false, "the workspace is VIP (its messages may be listed); required, as --vip or --vip=false")
	name := f.String("name", "", "display name (kept when not given)")
	table := tableFlag(f, e)
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if err := checkIDs(f, []string{"workspace"}, pos); err != nil {
		return err
	}
	if !f.isSet("vip") {
		// An omitted --vip must not quietly turn a VIP workspace into a 403.
		return f.usageErr("say --vip or --vip=false")
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	set := expression.Set(expression.Name(attrVIP), expression.Value(*vip))
	if *name != "" {
		set = set.Set(expression.Name(attrName), expression.Value(*name))
	}
	if err := update(ctx, db, table.name, messages.WorkspacePK(pos[0]), messages.WorkspaceSK(), set, nil); err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	fmt.Fprintf(e.stdout, "workspace %s: vip=%s\n", pos[0], strconv.FormatBool(*vip))
	return nil
}

// channelCmd parses WORKSPACE MEDIUM, checks them and the table setting, and
// returns a DynamoDB client.
func channelCmd(ctx context.Context, e *env, f *flags, t *table, args []string) ([]string, *dynamodb.Client, error) {
	pos, err := f.parse(e, args, 2, 2)
	if err != nil {
		return nil, nil, err
	}
	if err := checkIDs(f, []string{"workspace", "medium"}, pos); err != nil {
		return nil, nil, err
	}
	db, err := t.open(ctx, e)
	return pos, db, err
}

func channelsConnect(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--name N] [--table T] WORKSPACE MEDIUM")
	name := f.String("name", "", "display name (kept when not given)")
	table := tableFlag(f, e)
	pos, db, err := channelCmd(ctx, e, f, table, args)
	if err != nil {
		return err
	}
	ws, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table.name), Key: itemKey(messages.WorkspacePK(pos[0]), messages.WorkspaceSK()), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	if ws.Item == nil {
		return fmt.Errorf("workspace %s not found in %s: register it first (vipctl workspaces put %s --vip)", pos[0], table.name, pos[0])
	}
	set := expression.Set(expression.Name(attrConnected), expression.Value(true))
	if *name != "" {
		set = set.Set(expression.Name(attrName), expression.Value(*name))
	}
	if err := update(ctx, db, table.name, messages.WorkspacePK(pos[0]), messages.ChannelSK(pos[1]), set, nil); err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	fmt.Fprintf(e.stdout, "channel %s of workspace %s: connected\n", pos[1], pos[0])
	return nil
}

func channelsDisconnect(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--table T] WORKSPACE MEDIUM")
	table := tableFlag(f, e)
	pos, db, err := channelCmd(ctx, e, f, table, args)
	if err != nil {
		return err
	}
	exists := expression.AttributeExists(expression.Name(messages.PartitionKeyAttr))
	err = update(ctx, db, table.name, messages.WorkspacePK(pos[0]), messages.ChannelSK(pos[1]),
		expression.Set(expression.Name(attrConnected), expression.Value(false)), &exists)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("channel %s of workspace %s not found in %s", pos[1], pos[0], table.name)
	}
	if err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	fmt.Fprintf(e.stdout, "channel %s of workspace %s: disconnected\n", pos[1], pos[0])
	return nil
}
