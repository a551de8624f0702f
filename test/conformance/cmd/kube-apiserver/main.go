// Command kube-apiserver is the upstream API server, built from the pinned
// k8s.io/kubernetes release so the conformance harness can run the real flag
// parsing, audit policy loading and audit webhook backend on loopback, with
// no container runtime and no downloaded release binaries.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
