package ddblocal

// The table definition of the SAM template, the single source of truth for the
// table's schema, as a CreateTable request for local tables.

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// TableResource is the logical id of the table in template.yaml.
const TableResource = "MessagesTable"

// tableProps holds the schema part of an AWS::DynamoDB::Table. Properties that use
// CloudFormation intrinsics (TableName, DeletionProtectionEnabled) are left out on
// purpose: they differ per stage and do not shape the schema.
type tableProps struct {
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema []struct {
		AttributeName string `yaml:"AttributeName"`
		KeyType       string `yaml:"KeyType"`
	} `yaml:"KeySchema"`
	StreamSpecification *struct {
		StreamViewType string `yaml:"StreamViewType"`
	} `yaml:"StreamSpecification"`
	BillingMode string `yaml:"BillingMode"`
}

// LoadTable reads the table resource from the template at path and returns a
// CreateTable request for a table with the given name.
func LoadTable(path, tableName string) (*dynamodb.CreateTableInput, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]yaml.Node `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	node, ok := doc.Resources[TableResource]
	if !ok {
		return nil, fmt.Errorf("%s: no resource %s", path, TableResource)
	}
	var res struct {
		Type       string    `yaml:"Type"`
		Properties yaml.Node `yaml:"Properties"`
	}
	if err := node.Decode(&res); err != nil {
		return nil, fmt.Errorf("%s: decode %s: %w", path, TableResource, err)
	}
	if res.Type != "AWS::DynamoDB::Table" {
		return nil, fmt.Errorf("%s: %s is a %s, not a table", path, TableResource, res.Type)
	}
	props, err := decodeSchema(&res.Properties)
	if err != nil {
		return nil, fmt.Errorf("%s: %s properties: %w", path, TableResource, err)
	}

	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(tableName),
		BillingMode: types.BillingMode(props.BillingMode),
	}
	for _, a := range props.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}
	for _, k := range props.KeySchema {
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{
			AttributeName: aws.String(k.AttributeName),
			KeyType:       types.KeyType(k.KeyType),
		})
	}
	if s := props.StreamSpecification; s != nil && s.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewType(s.StreamViewType),
		}
	}
	if len(in.KeySchema) == 0 || len(in.AttributeDefinitions) == 0 {
		return nil, fmt.Errorf("%s: %s has no key schema", path, TableResource)
	}
	return in, nil
}

// decodeSchema decodes only the schema keys, skipping properties whose values are
// CloudFormation intrinsics such as !If, which do not decode into plain types.
func decodeSchema(props *yaml.Node) (tableProps, error) {
	var out tableProps
	if props.Kind != yaml.MappingNode {
		return out, fmt.Errorf("not a mapping")
	}
	keep := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(props.Content); i += 2 {
		switch props.Content[i].Value {
		case "AttributeDefinitions", "KeySchema", "StreamSpecification", "BillingMode":
			keep.Content = append(keep.Content, props.Content[i], props.Content[i+1])
		}
	}
	err := keep.Decode(&out)
	return out, err
}
