// Command seed writes the demo data set (docs/local-stack.md) into a table, creating the
// table from template.yaml when it does not exist. The DynamoDB endpoint comes from
// the standard AWS configuration (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/seed"
)

func main() {
	table := flag.String("table", "vip-messages-local", "table name")
	create := flag.Bool("create-table", true, "create the table from template.yaml if it is missing")
	flag.Parse()
	if err := run(*table, *create); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(table string, create bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := dynamodb.NewFromConfig(cfg)
	if create {
		_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var missing *types.ResourceNotFoundException
		if errors.As(err, &missing) {
			err = ddblocal.CreateTable(ctx, client, table)
		}
		if err != nil {
			return err
		}
	}
	d := seed.Demo(time.Now())
	if err := seed.NewWriter(client, table).Write(ctx, d); err != nil {
		return err
	}
	fmt.Printf("seeded %s: %d workspaces, %d channels, %d messages in %s/%s\n", table,
		len(d.Workspaces), len(d.Channels), len(d.Messages[0].Messages), seed.DemoWorkspace, seed.DemoChannel)
	return nil
}
