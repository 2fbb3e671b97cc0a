package smlocal

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/vip-messages/api/internal/auth"
)

// NewClient returns a real SDK client for the endpoint, with dummy static
// credentials and Region. optFns adjust it (e.g. o.RetryMaxAttempts).
func NewClient(endpoint string, optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, optFns...)
}

// KeyWriter is the part of the Secrets Manager client PutKey uses.
type KeyWriter interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// PutKey stores an API key's secret value (auth.SecretName(prefix, keyID)),
// creating the secret or adding a new current version. It works against the
// real service too.
func PutKey(ctx context.Context, c KeyWriter, prefix, keyID string, v auth.SecretValue) error {
	s, err := v.Encode()
	if err != nil {
		return err
	}
	name := auth.SecretName(prefix, keyID)
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(s)})
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(s)})
	}
	return err
}
