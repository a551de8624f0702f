package auditsink

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"strings"

	auditregv1alpha1 "k8s.io/api/auditregistration/v1alpha1"
	genericvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The v1alpha1 defaults (kubernetes 1.18 pkg/apis/auditregistration/v1alpha1
// defaults.go): a missing throttle, or a missing half of one, becomes 10 qps
// and 15 burst. Validation runs after them, so a rendered sink may omit the
// throttle but may not set it to zero.
const (
	defaultQPS   = int64(10)
	defaultBurst = int64(15)
)

func setDefaults(s *auditregv1alpha1.AuditSink) {
	th := s.Spec.Webhook.Throttle
	if th == nil {
		th = &auditregv1alpha1.WebhookThrottleConfig{}
		s.Spec.Webhook.Throttle = th
	}
	if th.QPS == nil {
		q := defaultQPS
		th.QPS = &q
	}
	if th.Burst == nil {
		b := defaultBurst
		th.Burst = &b
	}
	if svc := s.Spec.Webhook.ClientConfig.Service; svc != nil && svc.Port == nil {
		p := int32(443)
		svc.Port = &p
	}
}

var (
	validLevels = sets.NewString(
		string(auditregv1alpha1.LevelNone), string(auditregv1alpha1.LevelMetadata),
		string(auditregv1alpha1.LevelRequest), string(auditregv1alpha1.LevelRequestResponse))
	validStages = sets.NewString(
		string(auditregv1alpha1.StageRequestReceived), string(auditregv1alpha1.StageResponseStarted),
		string(auditregv1alpha1.StageResponseComplete), string(auditregv1alpha1.StagePanic))
)

// ValidateAuditSink applies the rules of kubernetes 1.18
// pkg/apis/auditregistration/validation.ValidateAuditSink, with the same
// field paths and messages so a failure here reads like the API server's
// rejection. Checked against that file at its last revision before removal.
func ValidateAuditSink(s *auditregv1alpha1.AuditSink) field.ErrorList {
	errs := genericvalidation.ValidateObjectMeta(&s.ObjectMeta, false, genericvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, validatePolicy(s.Spec.Policy, spec.Child("policy"))...)
	errs = append(errs, validateWebhook(s.Spec.Webhook, spec.Child("webhook"))...)
	return errs
}

func validatePolicy(p auditregv1alpha1.Policy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, st := range p.Stages {
		if !validStages.Has(string(st)) {
			errs = append(errs, field.Invalid(path.Child("stages").Index(i), string(st),
				"allowed stages are "+strings.Join(validStages.List(), ",")))
		}
	}
	switch {
	case p.Level == "":
		errs = append(errs, field.Required(path.Child("level"), ""))
	case !validLevels.Has(string(p.Level)):
		errs = append(errs, field.NotSupported(path.Child("level"), p.Level, validLevels.List()))
	}
	// Upstream returns only this error when it applies, dropping the others.
	if p.Level != auditregv1alpha1.LevelNone && len(p.Stages) == 0 {
		return field.ErrorList{field.Required(path.Child("stages"), "")}
	}
	return errs
}

func validateWebhook(w auditregv1alpha1.Webhook, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if th := w.Throttle; th != nil {
		if th.QPS != nil && *th.QPS <= 0 {
			errs = append(errs, field.Invalid(path.Child("throttle", "qps"), th.QPS, "qps must be a positive number"))
		}
		if th.Burst != nil && *th.Burst <= 0 {
			errs = append(errs, field.Invalid(path.Child("throttle", "burst"), th.Burst, "burst must be a positive number"))
		}
	}
	cc := w.ClientConfig
	ccPath := path.Child("clientConfig")
	if (cc.URL == nil) == (cc.Service == nil) {
		errs = append(errs, field.Required(ccPath.Child("url"), "exactly one of url or service is required"))
	}
	if cc.URL != nil {
		errs = append(errs, validateURL(*cc.URL, ccPath.Child("url"))...)
	}
	if cc.Service != nil {
		errs = append(errs, validateService(cc.Service, ccPath.Child("service"))...)
	}
	return errs
}

// validateURL: any scheme is accepted (upstream did not force https), but
// the URL must parse, name a host, and carry no user info, query or fragment.
func validateURL(raw string, path *field.Path) field.ErrorList {
	const form = "; desired format: https://host[/path]"
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Required(path, "url must be a valid URL: "+err.Error()+form)}
	}
	var errs field.ErrorList
	if u.Host == "" {
		errs = append(errs, field.Invalid(path, u.Host, "host must be provided"+form))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(path, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" {
		errs = append(errs, field.Invalid(path, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(path, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

// validateService is checked for completeness; audit-lab never renders a
// service reference (see auditLabRules).
func validateService(svc *auditregv1alpha1.ServiceReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if svc.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), "service name is required"))
	}
	if svc.Namespace == "" {
		errs = append(errs, field.Required(path.Child("namespace"), "service namespace is required"))
	}
	if svc.Path == nil || *svc.Path == "" || *svc.Path == "/" {
		return errs
	}
	p := *svc.Path
	if p == "//" {
		return append(errs, field.Invalid(path.Child("path"), p, "segment[0] may not be empty"))
	}
	if !strings.HasPrefix(p, "/") {
		errs = append(errs, field.Invalid(path.Child("path"), p, "must start with a '/'"))
	}
	for i, seg := range strings.Split(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "" {
			errs = append(errs, field.Invalid(path.Child("path"), p, fmt.Sprintf("segment[%d] may not be empty", i)))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(seg) {
			errs = append(errs, field.Invalid(path.Child("path"), p, fmt.Sprintf("segment[%d]: %v", i, msg)))
		}
	}
	return errs
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
