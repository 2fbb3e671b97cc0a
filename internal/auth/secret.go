package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vip-messages/api/internal/signature"
)

// SecretValue is the JSON value of an API key's secret in Secrets Manager:
//
//	{"secrets": ["<current>", "<previous, optional>"], "workspaceIds": ["ws1", ...], "minSignatureVersion": 2}
//
// A signature made with any listed secret is accepted, so a key rotates by
// listing the new secret first, and drops the old one once clients have moved.
// minSignatureVersion, optional, is the oldest signature version the key
// accepts: 2 refuses version 1 (which covers only x-date, so a captured
// request could be replayed with another query); absent (or 1) accepts both.
// Its String, GoString and LogValue leave the secrets out, so that printing or
// logging one by mistake leaks nothing.
type SecretValue struct {
	Secrets      []string `json:"secrets"`
	WorkspaceIDs []string `json:"workspaceIds"`
	// MinSignatureVersion is 0 (absent) or 1 for both versions, 2 for v2 only.
	MinSignatureVersion int `json:"minSignatureVersion,omitempty"`
}

// SecretName is the Secrets Manager name of an API key's secret.
func SecretName(prefix, keyID string) string { return prefix + "/" + keyID }

// ParseSecretValue decodes and validates a secret value. Its errors never quote
// the input.
func ParseSecretValue(s string) (SecretValue, error) {
	var v SecretValue
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		// json's own messages may quote part of the input (the secret).
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return SecretValue{}, fmt.Errorf("secret value is not valid JSON (offset %d)", syn.Offset)
		case errors.As(err, &typ):
			return SecretValue{}, fmt.Errorf("secret value field %q has type %s, want %s", typ.Field, typ.Value, typ.Type)
		default:
			return SecretValue{}, errors.New("secret value is not a JSON object")
		}
	}
	return v, v.validate()
}

func (v SecretValue) validate() error {
	if len(v.Secrets) == 0 {
		return errors.New(`secret value has no "secrets"`)
	}
	for i, s := range v.Secrets {
		if s == "" {
			return fmt.Errorf(`secret value "secrets"[%d] is empty`, i)
		}
	}
	if v.WorkspaceIDs == nil {
		return errors.New(`secret value has no "workspaceIds"`)
	}
	for i, ws := range v.WorkspaceIDs {
		if ws == "" {
			return fmt.Errorf(`secret value "workspaceIds"[%d] is empty`, i)
		}
	}
	if v.MinSignatureVersion < 0 || v.MinSignatureVersion > signature.V2 {
		return fmt.Errorf(`secret value "minSignatureVersion" is %d, want 1 or 2`, v.MinSignatureVersion)
	}
	return nil
}

// Encode validates v and returns it as the SecretString to store.
func (v SecretValue) Encode() (string, error) {
	if err := v.validate(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

func (v SecretValue) String() string {
	return fmt.Sprintf("{secrets:[%d redacted] workspaceIds:%q minSignatureVersion:%d}", len(v.Secrets), v.WorkspaceIDs, v.MinSignatureVersion)
}

// GoString keeps %#v from printing the secrets.
func (v SecretValue) GoString() string { return "auth.SecretValue" + v.String() }

// LogValue keeps slog from printing the secrets.
func (v SecretValue) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("secrets", len(v.Secrets)), slog.Any("workspaceIds", v.WorkspaceIDs), slog.Int("minSignatureVersion", v.MinSignatureVersion))
}
