package ddbtest

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestTablePerTestMatchesTemplate(t *testing.T) {
	client, name := NewTable(t)
	out, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(out.Table.KeySchema); got != 2 {
		t.Fatalf("key schema has %d elements", got)
	}
	if out.Table.StreamSpecification != nil && aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
		t.Error("NewTable's table has a stream")
	}
	client, other := NewStreamTable(t)
	if other == name {
		t.Error("two tests share a table name")
	}
	out, err = client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(other)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.StreamSpecification == nil || !aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
		t.Error("NewStreamTable's table has no stream")
	}
}
