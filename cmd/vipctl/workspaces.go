package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	schema "github.com/vip-messages/api/internal/table"
)

func init() {
	register(&command{name: "workspaces", summary: "register workspaces (DynamoDB)", subs: []*command{
		{name: "put", args: "[--vip|--vip=false] [--name N] [--table T] ID", summary: "create (--vip or --vip=false required) or update a workspace", run: workspacesPut},
		{name: "list", args: "[--limit N] [--next TOKEN] [--all] [--json] [--table T]", summary: "list the workspaces (a Scan of the whole table)", run: workspacesList},
	}})
	register(&command{name: "channels", summary: "connect channels to workspaces (DynamoDB)", subs: []*command{
		{name: "connect", args: "[--name N] [--table T] WORKSPACE MEDIUM", summary: "create or reconnect a channel of an existing workspace", run: channelsConnect},
		{name: "disconnect", args: "[--table T] WORKSPACE MEDIUM", summary: "mark a channel not connected (the API answers 404 for it)", run: channelsDisconnect},
		{name: "list", args: "[--limit N] [--next TOKEN] [--all] [--json] [--table T] WORKSPACE", summary: "list a workspace's channels", run: channelsList},
	}})
}

func checkIDs(f *flags, what []string, ids []string) error {
	for i, id := range ids {
		if !schema.ValidPublicID(id) {
			return f.usageErr("%s %q: want 1-128 of [A-Za-z0-9._:-]", what[i], id)
		}
	}
	return nil
}

// update sets attributes of one item, creating it unless cond says
// otherwise, and returns the item as it is now.
func update(ctx context.Context, db *dynamodb.Client, table, pk, sk string, set expression.UpdateBuilder, cond *expression.ConditionBuilder) (map[string]types.AttributeValue, error) {
	b := expression.NewBuilder().WithUpdate(set)
	if cond != nil {
		b = b.WithCondition(*cond)
	}
	expr, err := b.Build()
	if err != nil {
		return nil, err
	}
	out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       schema.Key(pk, sk),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

func workspacesPut(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--vip|--vip=false] [--name N] [--table T] ID")
	vip := f.Bool("vip", false, "the workspace is VIP (its messages may be listed); required to create one, kept when not given")
	name := f.String("name", "", "display name (kept when not given)")
	table := tableFlag(f, e)
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if err := checkIDs(f, []string{"workspace"}, pos); err != nil {
		return err
	}
	if !f.isSet("vip") && *name == "" {
		return f.usageErr("nothing to put: give --vip, --vip=false or --name")
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	var set expression.UpdateBuilder
	var cond *expression.ConditionBuilder
	if f.isSet("vip") {
		set = set.Set(expression.Name(schema.VIPAttr), expression.Value(*vip))
	} else {
		// Without --vip only an update: an omitted --vip must neither create a
		// workspace of unknown status nor change a VIP one into a 403.
		exists := expression.AttributeExists(expression.Name(schema.PartitionKeyAttr))
		cond = &exists
	}
	if *name != "" {
		set = set.Set(expression.Name(schema.NameAttr), expression.Value(*name))
	}
	item, err := update(ctx, db, table.name, schema.WorkspacePK(pos[0]), schema.WorkspaceSK(), set, cond)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return f.usageErr("workspace %s is not in %s: creating it needs --vip or --vip=false", pos[0], table.name)
	}
	if err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	w := workspaceOf(pos[0], item)
	fmt.Fprintf(e.stdout, "workspace %s: vip=%t name=%q\n", w.ID, w.VIP, w.Name)
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
		TableName: aws.String(table.name), Key: schema.Key(schema.WorkspacePK(pos[0]), schema.WorkspaceSK()), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("table %s: %w", table.name, err)
	}
	if ws.Item == nil {
		return fmt.Errorf("workspace %s not found in %s: register it first (vipctl workspaces put %s --vip)", pos[0], table.name, pos[0])
	}
	set := expression.Set(expression.Name(schema.ConnectedAttr), expression.Value(true))
	if *name != "" {
		set = set.Set(expression.Name(schema.NameAttr), expression.Value(*name))
	}
	if _, err := update(ctx, db, table.name, schema.WorkspacePK(pos[0]), schema.ChannelSK(pos[1]), set, nil); err != nil {
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
	exists := expression.AttributeExists(expression.Name(schema.PartitionKeyAttr))
	_, err = update(ctx, db, table.name, schema.WorkspacePK(pos[0]), schema.ChannelSK(pos[1]),
		expression.Set(expression.Name(schema.ConnectedAttr), expression.Value(false)), &exists)
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

// channelExists says which of the workspace and the channel is missing.
func channelExists(ctx context.Context, db *dynamodb.Client, table, workspace, medium string) error {
	out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		table: {Keys: []map[string]types.AttributeValue{
			schema.Key(schema.WorkspacePK(workspace), schema.WorkspaceSK()),
			schema.Key(schema.WorkspacePK(workspace), schema.ChannelSK(medium)),
		}, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#sk"), ExpressionAttributeNames: map[string]string{"#sk": schema.SortKeyAttr}},
	}})
	if err != nil {
		return fmt.Errorf("table %s: %w", table, err)
	}
	found := map[string]bool{}
	for _, it := range out.Responses[table] {
		if sk, ok := it[schema.SortKeyAttr].(*types.AttributeValueMemberS); ok {
			found[sk.Value] = true
		}
	}
	switch {
	case len(out.UnprocessedKeys) > 0:
		return fmt.Errorf("table %s: throttled, try again", table)
	case !found[schema.WorkspaceSK()]:
		return fmt.Errorf("workspace %s not found in %s (vipctl workspaces list shows the ones there)", workspace, table)
	case !found[schema.ChannelSK(medium)]:
		return fmt.Errorf("channel %s of workspace %s not found in %s (vipctl channels list %s shows its channels)", medium, workspace, table, workspace)
	}
	return nil
}
