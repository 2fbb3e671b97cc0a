package deploy_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vip-messages/api/internal/auth"
)

// TestInvalidKeyAnswersAsTheFunction: API Gateway's answer to an unknown API
// key is the function's own answer to an unknown key id, so that neither layer
// tells which key ids exist.
func TestInvalidKeyAnswersAsTheFunction(t *testing.T) {
	t.Parallel()
	checkFiles(t, forEachStage(func(s stack) []string {
		for _, id := range ofType(s.tpl, "AWS::Serverless::Api") {
			body := str(get(s.resource(id), "GatewayResponses", "INVALID_API_KEY", "ResponseTemplates", "application/json"))
			var got struct{ Message *string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Message == nil || *got.Message != auth.ErrUnauthenticated.Message {
				return []string{fmt.Sprintf("%s answers an invalid API key with %q, the function with {\"message\":%q}", id, body, auth.ErrUnauthenticated.Message)}
			}
		}
		return nil
	}), []edit{
		{"the gateway tells the key is unknown", `'{"message":"invalid credentials"}'`, `'{"message":"unknown API key"}'`},
		{"no INVALID_API_KEY response", "        INVALID_API_KEY:\n", "        INVALID_KEY:\n"},
	})
}
