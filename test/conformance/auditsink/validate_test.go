package auditsink

import (
	"strings"
	"testing"
)

// TestValidatorRejects guards against a validator that passes everything:
// each case is a sink the API server rejected, with the field it named.
func TestValidatorRejects(t *testing.T) {
	const good = `apiVersion: auditregistration.k8s.io/v1alpha1
kind: AuditSink
metadata:
  name: ok
spec:
  policy:
    level: Metadata
    stages: [ResponseComplete]
  webhook:
    clientConfig:
      url: https://127.0.0.1:8443/sinks/ok/token
`
	sink, err := decodeStrict([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if errs := ValidateAuditSink(sink); len(errs) != 0 {
		t.Fatalf("the baseline sink must be valid: %v", errs)
	}
	if *sink.Spec.Webhook.Throttle.QPS != 10 || *sink.Spec.Webhook.Throttle.Burst != 15 {
		t.Fatalf("defaults not applied: %+v", sink.Spec.Webhook.Throttle)
	}

	cases := []struct{ name, from, to, wantField string }{
		{"bad level", "level: Metadata", "level: Everything", "spec.policy.level"},
		{"bad stage", "[ResponseComplete]", "[ResponseDone]", "spec.policy.stages[0]"},
		{"no stages", "[ResponseComplete]", "[]", "spec.policy.stages"},
		{"zero qps", "    clientConfig:", "    throttle: {qps: 0}\n    clientConfig:", "spec.webhook.throttle.qps"},
		{"negative burst", "    clientConfig:", "    throttle: {burst: -1}\n    clientConfig:", "spec.webhook.throttle.burst"},
		{"no host", "https://127.0.0.1:8443/sinks/ok/token", "https:///sinks", "spec.webhook.clientConfig.url"},
		{"user info", "https://127.0.0.1", "https://me:pw@127.0.0.1", "spec.webhook.clientConfig.url"},
		{"query", "/token", "/token?x=1", "spec.webhook.clientConfig.url"},
		{"fragment", "/token", "/token#x", "spec.webhook.clientConfig.url"},
		{"bad name", "name: ok", "name: Not_OK", "metadata.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(good, c.from, c.to, 1)
			s, err := decodeStrict([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			errs := ValidateAuditSink(s)
			if len(errs) == 0 {
				t.Fatalf("accepted:\n%s", doc)
			}
			if errs[0].Field != c.wantField {
				t.Fatalf("first error on %s, want %s: %v", errs[0].Field, c.wantField, errs)
			}
		})
	}

	// Level None needs no stages.
	s, _ := decodeStrict([]byte(strings.Replace(strings.Replace(good, "level: Metadata", "level: None", 1), "[ResponseComplete]", "[]", 1)))
	if errs := ValidateAuditSink(s); len(errs) != 0 {
		t.Fatalf("level None without stages must be valid: %v", errs)
	}
}

// TestStrictDecoding: the API server dropped unknown fields without a word,
// so a typo in a rendered sink would silently change its meaning.
func TestStrictDecoding(t *testing.T) {
	doc := `apiVersion: auditregistration.k8s.io/v1alpha1
kind: AuditSink
metadata: {name: typo}
spec:
  policy: {level: Metadata, stage: [ResponseComplete]}
  webhook: {clientConfig: {url: "https://127.0.0.1/x"}}
`
	if _, err := decodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "stage") {
		t.Fatalf("an unknown field must be refused, got %v", err)
	}
	wrongVersion := strings.Replace(doc, "v1alpha1", "v1", 1)
	wrongVersion = strings.Replace(wrongVersion, "stage:", "stages:", 1)
	if _, err := decodeStrict([]byte(wrongVersion)); err == nil {
		t.Fatal("a wrong apiVersion must be refused")
	}
}
