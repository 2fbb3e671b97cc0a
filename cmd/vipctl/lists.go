package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	schema "github.com/vip-messages/api/internal/table"
)

// The list commands page like messages list: one page (--limit rows) by
// default, "more: --next TOKEN" on stderr when there may be more, --all for
// every page; a table, or JSON lines with --json.

// lister is what one list command provides.
type lister[T any] struct {
	header string // tab-separated column names
	row    func(T) string
	// page reads up to limit rows after token; next is empty at the end.
	page func(ctx context.Context, token string, limit int) (rows []T, next string, err error)
	// empty is said on a terminal when there is no row at all.
	empty string
}

// pageFlags are the paging flags of a list command.
type pageFlags struct {
	limit  *int
	next   *string
	all    *bool
	asJSON *bool
	max    int
}

func listFlags(f *flags, def, max int) *pageFlags {
	return &pageFlags{
		limit:  f.Int("limit", def, fmt.Sprintf("rows per page, 1-%d", max)),
		next:   f.String("next", "", "continue after the page that printed this token"),
		all:    f.Bool("all", false, "every page"),
		asJSON: f.Bool("json", false, "JSON lines instead of a table"),
		max:    max,
	}
}

func (p *pageFlags) check(f *flags) error {
	if *p.limit < 1 || *p.limit > p.max {
		return f.usageErr("--limit %d: want 1 to %d", *p.limit, p.max)
	}
	if *p.all && *p.next != "" {
		return f.usageErr("--all or --next, not both")
	}
	return nil
}

func runList[T any](ctx context.Context, e *env, p *pageFlags, l lister[T]) error {
	var tw *tabwriter.Writer
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	if !*p.asJSON {
		tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, l.header)
	}
	token, n := *p.next, 0
	for {
		rows, next, err := l.page(ctx, token, *p.limit)
		if err != nil {
			if tw != nil {
				_ = tw.Flush()
			}
			return err
		}
		for _, r := range rows {
			n++
			if tw != nil {
				fmt.Fprintln(tw, l.row(r))
			} else if err := enc.Encode(r); err != nil {
				return err
			}
		}
		token = next
		if token == "" || !*p.all {
			break
		}
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if token != "" {
		fmt.Fprintf(e.stderr, "more: --next %s (or --all)\n", token)
	} else if n == 0 {
		e.nothing(l.empty)
	}
	return nil
}

// workspace is a row of workspaces list.
type workspace struct {
	ID   string `json:"workspaceId"`
	VIP  bool   `json:"vip"`
	Name string `json:"name"`
}

func workspaceOf(id string, item map[string]types.AttributeValue) workspace {
	w := workspace{ID: id}
	if v, ok := item[schema.VIPAttr].(*types.AttributeValueMemberBOOL); ok {
		w.VIP = v.Value
	}
	if v, ok := item[schema.NameAttr].(*types.AttributeValueMemberS); ok {
		w.Name = v.Value
	}
	return w
}

// channel is a row of channels list.
type channel struct {
	WorkspaceID string `json:"workspaceId"`
	MediumID    string `json:"mediumId"`
	Connected   bool   `json:"connected"`
	Name        string `json:"name"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func workspacesList(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--limit N] [--next TOKEN] [--all] [--json] [--table T]")
	p := listFlags(f, 50, 1000)
	table := tableFlag(f, e)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := p.check(f); err != nil {
		return err
	}
	if *p.next != "" && !schema.ValidPublicID(*p.next) {
		return f.usageErr("--next %q is not a token of workspaces list", *p.next)
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	// Workspace items have no index of their own: a Scan of the whole table,
	// keeping the workspace items. The token is the last workspace id: its
	// item's key is where the Scan goes on.
	expr, err := expression.NewBuilder().WithFilter(expression.And(
		expression.BeginsWith(expression.Name(schema.PartitionKeyAttr), schema.WorkspacePK("")),
		expression.Name(schema.SortKeyAttr).Equal(expression.Value(schema.WorkspaceSK())))).Build()
	if err != nil {
		return err
	}
	return runList(ctx, e, p, lister[workspace]{
		header: "WORKSPACE\tVIP\tNAME",
		row:    func(w workspace) string { return fmt.Sprintf("%s\t%t\t%s", w.ID, w.VIP, orDash(w.Name)) },
		empty:  "no workspaces in " + table.name,
		page: func(ctx context.Context, token string, limit int) ([]workspace, string, error) {
			in := &dynamodb.ScanInput{
				TableName: aws.String(table.name), FilterExpression: expr.Filter(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			}
			if token != "" {
				in.ExclusiveStartKey = schema.Key(schema.WorkspacePK(token), schema.WorkspaceSK())
			}
			var rows []workspace
			for {
				out, err := db.Scan(ctx, in)
				if err != nil {
					return nil, "", fmt.Errorf("table %s: %w", table.name, err)
				}
				for i, it := range out.Items {
					pk, _ := it[schema.PartitionKeyAttr].(*types.AttributeValueMemberS)
					if pk == nil {
						continue
					}
					rows = append(rows, workspaceOf(strings.TrimPrefix(pk.Value, schema.WorkspacePK("")), it))
					if len(rows) == limit {
						if i < len(out.Items)-1 || out.LastEvaluatedKey != nil {
							return rows, rows[len(rows)-1].ID, nil
						}
						return rows, "", nil
					}
				}
				if out.LastEvaluatedKey == nil {
					return rows, "", nil
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		},
	})
}

func channelsList(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--limit N] [--next TOKEN] [--all] [--json] [--table T] WORKSPACE")
	p := listFlags(f, 50, 1000)
	table := tableFlag(f, e)
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if err := p.check(f); err != nil {
		return err
	}
	if err := checkIDs(f, []string{"workspace"}, pos); err != nil {
		return err
	}
	if *p.next != "" && !schema.ValidPublicID(*p.next) {
		return f.usageErr("--next %q is not a token of channels list", *p.next)
	}
	ws := pos[0]
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	// One Query of the workspace's partition, channel items only; the token is
	// the last medium id.
	expr, err := expression.NewBuilder().WithKeyCondition(expression.KeyAnd(
		expression.Key(schema.PartitionKeyAttr).Equal(expression.Value(schema.WorkspacePK(ws))),
		expression.Key(schema.SortKeyAttr).BeginsWith(schema.ChannelSK("")))).Build()
	if err != nil {
		return err
	}
	return runList(ctx, e, p, lister[channel]{
		header: "MEDIUM\tCONNECTED\tNAME",
		row:    func(c channel) string { return fmt.Sprintf("%s\t%t\t%s", c.MediumID, c.Connected, orDash(c.Name)) },
		empty:  "no channels in workspace " + ws,
		page: func(ctx context.Context, token string, limit int) ([]channel, string, error) {
			in := &dynamodb.QueryInput{
				TableName: aws.String(table.name), KeyConditionExpression: expr.KeyCondition(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				Limit: aws.Int32(int32(limit)),
			}
			if token != "" {
				in.ExclusiveStartKey = schema.Key(schema.WorkspacePK(ws), schema.ChannelSK(token))
			}
			out, err := db.Query(ctx, in)
			if err != nil {
				return nil, "", fmt.Errorf("table %s: %w", table.name, err)
			}
			if len(out.Items) == 0 && token == "" {
				// No channel: say so when the workspace itself is missing.
				w, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table.name),
					Key: schema.Key(schema.WorkspacePK(ws), schema.WorkspaceSK()), ConsistentRead: aws.Bool(true)})
				if err != nil {
					return nil, "", fmt.Errorf("table %s: %w", table.name, err)
				}
				if w.Item == nil {
					return nil, "", fmt.Errorf("workspace %s not found in %s", ws, table.name)
				}
			}
			rows := make([]channel, 0, len(out.Items))
			for _, it := range out.Items {
				sk, _ := it[schema.SortKeyAttr].(*types.AttributeValueMemberS)
				if sk == nil {
					continue
				}
				c := channel{WorkspaceID: ws, MediumID: strings.TrimPrefix(sk.Value, schema.ChannelSK(""))}
				if v, ok := it[schema.ConnectedAttr].(*types.AttributeValueMemberBOOL); ok {
					c.Connected = v.Value
				}
				if v, ok := it[schema.NameAttr].(*types.AttributeValueMemberS); ok {
					c.Name = v.Value
				}
				rows = append(rows, c)
			}
			next := ""
			if out.LastEvaluatedKey != nil && len(rows) > 0 {
				next = rows[len(rows)-1].MediumID
			}
			return rows, next, nil
		},
	})
}

// apiKey is a row of keys list.
type apiKey struct {
	KeyID       string     `json:"keyId"`
	SecretName  string     `json:"secretName"`
	Created     time.Time  `json:"created"`
	LastChanged *time.Time `json:"lastChanged,omitempty"`
	// DeletionDate is set for a revoked key that can still be restored.
	DeletionDate *time.Time `json:"deletionDate,omitempty"`
}

func keysList(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--limit N] [--next TOKEN] [--all] [--json] [--stage S] [--prefix P]")
	var kf keyFlags
	kf.register(f, e)
	kf.registerStage(f, e)
	p := listFlags(f, 50, 100)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := p.check(f); err != nil {
		return err
	}
	sm, err := kf.open(ctx, e)
	if err != nil {
		return err
	}
	prefix := strings.TrimSuffix(kf.prefix, "/") + "/"
	day := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.DateOnly)
	}
	return runList(ctx, e, p, lister[apiKey]{
		header: "KEY ID\tSTATE\tCREATED\tLAST CHANGED",
		row: func(k apiKey) string {
			state := "active"
			if k.DeletionDate != nil {
				state = "revoked, deleted on " + day(k.DeletionDate)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s", k.KeyID, state, day(&k.Created), day(k.LastChanged))
		},
		empty: "no keys under " + prefix,
		page: func(ctx context.Context, token string, limit int) ([]apiKey, string, error) {
			in := &secretsmanager.ListSecretsInput{
				Filters:                []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}},
				IncludePlannedDeletion: aws.Bool(true),
				MaxResults:             aws.Int32(int32(limit)),
				SortOrder:              smtypes.SortOrderTypeAsc,
			}
			if token != "" {
				in.NextToken = aws.String(token)
			}
			out, err := sm.ListSecrets(ctx, in)
			if err != nil {
				return nil, "", fmt.Errorf("list secrets under %s: %w", prefix, err)
			}
			rows := make([]apiKey, 0, len(out.SecretList))
			for _, s := range out.SecretList {
				name := aws.ToString(s.Name)
				id, ok := strings.CutPrefix(name, prefix)
				if !ok || strings.Contains(id, "/") {
					continue // the name filter is a prefix match: deeper names are not keys of this prefix
				}
				k := apiKey{KeyID: id, SecretName: name, LastChanged: s.LastChangedDate, DeletionDate: s.DeletedDate}
				if s.CreatedDate != nil {
					k.Created = *s.CreatedDate
				}
				rows = append(rows, k)
			}
			return rows, aws.ToString(out.NextToken), nil
		},
	})
}
