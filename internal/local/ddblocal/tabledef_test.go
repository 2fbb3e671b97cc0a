package ddblocal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/local/repo"
)

func TestLoadTemplate(t *testing.T) {
	template, err := repo.Path("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, err := LoadTable(template, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if *in.TableName != "t1" {
		t.Errorf("table name %q", *in.TableName)
	}
	if in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %q, want on-demand", in.BillingMode)
	}
	keys := map[types.KeyType]string{}
	for _, k := range in.KeySchema {
		keys[k.KeyType] = *k.AttributeName
	}
	if keys[types.KeyTypeHash] != "pk" || keys[types.KeyTypeRange] != "sk" {
		t.Errorf("key schema %v, want pk HASH, sk RANGE", keys)
	}
	if in.StreamSpecification == nil || in.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("stream %+v, want NEW_AND_OLD_IMAGES", in.StreamSpecification)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := map[string]string{
		"no table":    "Resources:\n  Other:\n    Type: AWS::SQS::Queue\n",
		"not a table": "Resources:\n  MessagesTable:\n    Type: AWS::SQS::Queue\n    Properties: {}\n",
		"no keys":     "Resources:\n  MessagesTable:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n",
		"not yaml":    "Resources: [",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadTable(p, "t"); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
