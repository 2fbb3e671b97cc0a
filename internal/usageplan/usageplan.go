// Package usageplan names the per-key tiers of a deployed stage: each tier is
// an API Gateway usage plan of template.yaml (rate, burst, daily quota), and
// every API key id is also an API Gateway API key attached to one of them
// (README, "Rate limits"). vipctl and the template tests share these names.
package usageplan

import "fmt"

// Tiers, smallest first.
const (
	Basic    = "basic"
	Standard = "standard"
	Premium  = "premium"
)

// Tiers lists every tier, smallest first.
var Tiers = []string{Basic, Standard, Premium}

// DefaultTier is the tier of a key created without one.
const DefaultTier = Standard

// API Gateway accepts API key values of 20 to 128 characters; our key ids are
// those values, so a deployed stage needs ids of at least MinKeyIDLen.
// Generated ids (vk_ and 20 hex digits) are 23.
const (
	MinKeyIDLen = 20
	MaxKeyIDLen = 128
)

// PlanName is the name of a tier's usage plan in a stage: vip-messages-<stage>-<tier>.
func PlanName(stage, tier string) string { return fmt.Sprintf("vip-messages-%s-%s", stage, tier) }

// Valid reports whether tier is one of Tiers.
func Valid(tier string) bool {
	for _, t := range Tiers {
		if t == tier {
			return true
		}
	}
	return false
}
