// Evaluates IAM requests with @cloud-copilot/iam-simulate, for internal/deploy/roles_test.go.
// stdin: a JSON array of {principal, action, resource, account, context, identity,
// boundary, resourcePolicy}; stdout: a JSON array of {result, error}, in order.
import { readFileSync } from 'node:fs'
import { loadPolicy } from '@cloud-copilot/iam-policy'
import { runSimulation } from '@cloud-copilot/iam-simulate'
// The package's runUnsafeSimulation loads a resource policy without a name and then fails
// on it (0.1.173), so trustOnly below calls its engine as that function does.
import { authorize } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/core_engine/CoreSimulatorEngine.js'
import { DiscoveryContextKeyConstraints } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/context_keys/discoveryContextKeyConstraints.js'
import { AwsRequestImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/request/request.js'
import { RequestContextImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/requestContext.js'

const named = (docs) => (docs ?? []).map((policy, i) => ({ name: `p${i}`, policy }))

// trustOnly evaluates a role's trust policy alone, with every context key given.
function trustOnly(c) {
  const request = new AwsRequestImpl(
    c.principal,
    { resource: c.resource, accountId: c.account },
    c.action,
    new RequestContextImpl(c.context ?? {})
  )
  return authorize({
    request,
    identityPolicies: [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: loadPolicy(c.resourcePolicy, { name: 'trust' }),
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: {} }
  }).result
}

const out = []
for (const c of JSON.parse(readFileSync(0, 'utf8'))) {
  const sim = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.account },
      contextVariables: c.context ?? {}
    },
    identityPolicies: named(c.identity),
    permissionBoundaryPolicies: c.boundary ? named(c.boundary) : undefined,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.resourcePolicy
  }
  let r = await runSimulation(sim, {})
  // An action that takes no resource ARN (the policy says "*") is asked about "*".
  if (r.resultType === 'error' && r.errors.message === 'must.use.wildcard') {
    sim.request.resource.resource = '*'
    r = await runSimulation(sim, {})
  }
  if (r.resultType === 'error') {
    out.push({ error: JSON.stringify(r.errors) })
    continue
  }
  if (r.resultType !== 'single') {
    out.push({ error: `resource ${c.resource} is a pattern, want one resource` })
    continue
  }
  const ignored = r.result.ignoredContextKeys ?? []
  // The validating run drops the GitHub token's claims, which IAM checks only in a role's
  // trust policy; the request itself passed validation, so evaluate it with them.
  if (ignored.length > 0 && ignored.every((k) => k.startsWith('token.actions.githubusercontent.com:'))) {
    out.push({ result: trustOnly(c) })
  } else if (ignored.length > 0) {
    out.push({ error: `context keys ${ignored} do not apply to ${c.action}` })
  } else {
    out.push({ result: r.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
