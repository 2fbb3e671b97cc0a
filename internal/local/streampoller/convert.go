package streampoller

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// ToEvent converts a DynamoDB Streams API record to the record Lambda
// delivers to a function.
func ToEvent(streamARN string, r st.Record) (events.DynamoDBEventRecord, error) {
	d := r.Dynamodb
	if d == nil {
		return events.DynamoDBEventRecord{}, fmt.Errorf("record %s has no dynamodb part", aws.ToString(r.EventID))
	}
	ev := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: streamARN,
		Change: events.DynamoDBStreamRecord{
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		},
	}
	var err error
	if ev.Change.Keys, err = eventMap(d.Keys); err != nil {
		return ev, fmt.Errorf("keys: %w", err)
	}
	if ev.Change.NewImage, err = eventMap(d.NewImage); err != nil {
		return ev, fmt.Errorf("new image: %w", err)
	}
	if ev.Change.OldImage, err = eventMap(d.OldImage); err != nil {
		return ev, fmt.Errorf("old image: %w", err)
	}
	if d.ApproximateCreationDateTime != nil {
		ev.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
	}
	return ev, nil
}

func eventMap(m map[string]st.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		ev, err := eventValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = ev
	}
	return out, nil
}

func eventValue(v st.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch x := v.(type) {
	case *st.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value), nil
	case *st.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value), nil
	case *st.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value), nil
	case *st.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value), nil
	case *st.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *st.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value), nil
	case *st.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value), nil
	case *st.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value), nil
	case *st.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			ev, err := eventValue(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			l[i] = ev
		}
		return events.NewListAttribute(l), nil
	case *st.AttributeValueMemberM:
		m, err := eventMap(x.Value)
		if err != nil {
			return events.DynamoDBAttributeValue{}, err
		}
		return events.NewMapAttribute(m), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported stream attribute %T", v)
}
