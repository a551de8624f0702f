// A module of its own because k8s.io/api dropped auditregistration/v1alpha1
// after v0.18 (kubernetes PR #91502), while the parent module needs the
// current k8s.io/api that kube-apiserver is built from; one module cannot
// hold both.
module auditlab.local/conformance/auditsink

go 1.26.0

require (
	k8s.io/api v0.18.19
	k8s.io/apimachinery v0.18.19
	sigs.k8s.io/yaml v1.2.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/google/gofuzz v1.1.0 // indirect
	github.com/json-iterator/go v1.1.8 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.1 // indirect
	golang.org/x/net v0.0.0-20201110031124-69a78807bb2b // indirect
	golang.org/x/text v0.3.3 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/yaml.v2 v2.2.8 // indirect
	k8s.io/klog v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v3 v3.0.1 // indirect
)
