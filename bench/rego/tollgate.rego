# The four standard tollgate policies as configured in bench/compare's repositories, written
# in Rego for the comparison with regorus. Each rule set follows its plugin's README for the
# fields that configuration uses; bench/compare checks that both engines reach the same
# verdict per policy on every scenario it measures.
#
# Input: {"transition": <the transition tollgate's plan -o json shows, requested_at in Unix
# seconds>, "files": {path: text}} (files: what the erp-readiness policy reads from the tree).
package tollgate.bench

import rego.v1

t := input.transition

ns := t.requested_at * 1000000000

# --- approval-count: prod takes 2 distinct approvers of this version, not the requester,
# no approval older than 24h or dated after the request, at least 1 from sre.
approval_rules := {"prod": {"required": 2, "groups": {"sre": ["bob", "dana"]}, "group_minimums": {"sre": 1}, "max_age": 86400}}

person(name) := lower(trim_space(name))

counted contains person(approval.approver) if {
	rules := approval_rules[t.to_env]
	some approval in t.approvals
	person(approval.approver) != ""
	approval.version == t.artifact.version
	person(approval.approver) != person(t.requested_by)
	at := object.get(approval, "at", t.requested_at)
	at <= t.requested_at
	t.requested_at - at <= rules.max_age
}

default approval_allows := false

approval_allows if not approval_rules[t.to_env]

approval_allows if {
	rules := approval_rules[t.to_env]
	count(counted) >= rules.required
	every group, minimum in rules.group_minimums {
		members := {person(member) | some member in rules.groups[group]}
		count(counted & members) >= minimum
	}
}

# --- change-window: prod changes Monday to Thursday 09:00-16:00 Europe/Berlin, never in the
# year-end freeze (2026-12-18 18:00 to 2027-01-05 09:00 Berlin time, here in UTC).
window_rules := {"prod": {
	"timezone": "Europe/Berlin",
	"windows": [{"days": {"Monday", "Tuesday", "Wednesday", "Thursday"}, "start": 540, "end": 960}],
	"freezes": [{"from": "2026-12-18T17:00:00Z", "until": "2027-01-05T08:00:00Z"}],
}}

frozen(rules) if {
	some freeze in rules.freezes
	time.parse_rfc3339_ns(freeze.from) <= ns
	ns < time.parse_rfc3339_ns(freeze.until)
}

in_window(rules) if {
	some window in rules.windows
	time.weekday([ns, rules.timezone]) in window.days
	clock := time.clock([ns, rules.timezone])
	minute := (clock[0] * 60) + clock[1]
	window.start <= minute
	minute < window.end
}

default window_allows := false

window_allows if not window_rules[t.to_env]

window_allows if {
	rules := window_rules[t.to_env]
	not frozen(rules)
	in_window(rules)
}

# --- secret-scope: each environment's manifests reference only its own Kubernetes secrets
# (secretKeyRef names, as k8s:<name>), and keep no plaintext value under a secret-looking key.
scope_rules := {"dev": {"allow": ["k8s:dev-*"]}, "test": {"allow": ["k8s:test-*"]}, "prod": {"allow": ["k8s:prod-*"]}}

secret_keys := {"password", "passwd", "secret", "token", "api_key", "apikey", "private_key"}

documents contains doc if {
	some change in t.changes
	is_string(change.after)
	regex.match(`\.(yaml|yml)$`, change.path)
	doc := yaml.unmarshal(change.after)
}

references contains concat("", ["k8s:", value.name]) if {
	some doc in documents
	walk(doc, [path, value])
	count(path) > 0
	path[count(path) - 1] == "secretKeyRef"
}

scope_findings contains reference if {
	rules := scope_rules[t.to_env]
	some reference in references
	not scope_allowed(rules, reference)
}

scope_findings contains concat("", ["plaintext under ", key]) if {
	some doc in documents
	walk(doc, [path, value])
	count(path) > 0
	key := path[count(path) - 1]
	is_string(key)
	lower(key) in secret_keys
	is_string(value)
}

scope_allowed(rules, reference) if {
	some pattern in rules.allow
	glob.match(pattern, [], reference)
}

default scope_allows := false

scope_allows if count(scope_findings) == 0

# --- erp-readiness: prod's readiness file (envs/prod/erp/readiness.yaml) says ready, and no
# maintenance window or period close is in progress at requested_at.
erp_rules := {"prod": "envs/prod/erp/readiness.yaml"}

default erp_allows := false

erp_allows if not erp_rules[t.to_env]

erp_allows if {
	readiness := yaml.unmarshal(input.files[erp_rules[t.to_env]])
	readiness.status == "ready"
	not in_period(object.get(readiness, "maintenance", []))
	not in_period(object.get(readiness, "period_close", []))
}

in_period(periods) if {
	some period in periods
	time.parse_rfc3339_ns(period.start) <= ns
	ns < time.parse_rfc3339_ns(period.end)
}

verdict(allowed) := "allow" if allowed

verdict(allowed) := "deny" if not allowed

verdicts := {
	"approval-count": verdict(approval_allows),
	"change-window": verdict(window_allows),
	"secret-scope": verdict(scope_allows),
	"erp-readiness": verdict(erp_allows),
}
