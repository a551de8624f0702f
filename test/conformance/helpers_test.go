// Package conformance checks audit-lab's rendered files against upstream
// Kubernetes code: the audit Policy loader and validation of k8s.io/apiserver,
// kind's own config loader (several kind releases, as binaries), and a real
// etcd + kube-apiserver on loopback that sends audit batches to a receiver.
//
// Everything reads the render --out directories under $CONFORMANCE_RENDERED,
// which run.sh fills with fresh `audit-lab render` output. Nothing here skips:
// a missing input or tool is a failure, so a green run means it was checked.
package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The directory kind mounts into the node and kubeadm mounts into the
// apiserver pod; rendered extraArgs name files under it.
const labMountPath = "/etc/kubernetes/audit-lab"

func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedEtcd()
	os.Exit(code)
}

func renderDirs(t *testing.T) []string {
	t.Helper()
	root := os.Getenv("CONFORMANCE_RENDERED")
	if root == "" {
		t.Fatal("CONFORMANCE_RENDERED is not set: run this through test/conformance/run.sh")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("reading CONFORMANCE_RENDERED: %v", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no render directories under %s", root)
	}
	return dirs
}

// mountedDir is where render --out puts what the node mounts (policy.yaml,
// webhook.kubeconfig): a directory of its own, as in a lab, so the throwaway
// CA key in pki/ never enters the node.
func mountedDir(dir string) string { return filepath.Join(dir, "apiserver") }

// renderedFiles returns (dir, path) for each render dir holding name, at its
// top or in its mounted directory.
func renderedFiles(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range renderDirs(t) {
		for _, p := range []string{filepath.Join(dir, name), filepath.Join(mountedDir(dir), name)} {
			if _, err := os.Stat(p); err == nil {
				out[dir] = p
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no render directory under $CONFORMANCE_RENDERED has a %s", name)
	}
	return out
}

// kindConfig is the part of a kind Cluster config (v1alpha3 or v1alpha4)
// that the audit wiring depends on. Kind itself checks the whole file.
type kindConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Nodes      []struct {
		Role        string `json:"role"`
		Image       string `json:"image"`
		ExtraMounts []struct {
			HostPath      string `json:"hostPath"`
			ContainerPath string `json:"containerPath"`
			ReadOnly      bool   `json:"readOnly"`
		} `json:"extraMounts"`
	} `json:"nodes"`
	KubeadmConfigPatches []string `json:"kubeadmConfigPatches"`
}

// clusterConfiguration is the kubeadm ClusterConfiguration patch. extraArgs
// is a map up to kubeadm v1beta3 and a list of {name, value} in v1beta4;
// both are accepted and flattened.
type clusterConfiguration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	APIServer  struct {
		ExtraArgs    interface{} `json:"extraArgs"`
		ExtraVolumes []struct {
			Name      string `json:"name"`
			HostPath  string `json:"hostPath"`
			MountPath string `json:"mountPath"`
			ReadOnly  bool   `json:"readOnly"`
		} `json:"extraVolumes"`
	} `json:"apiServer"`
}

type renderedCluster struct {
	Dir       string
	Config    kindConfig
	Patch     clusterConfiguration
	ExtraArgs map[string]string
}

func loadKindConfig(t *testing.T, dir string) renderedCluster {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rc := renderedCluster{Dir: dir, ExtraArgs: map[string]string{}}
	if err := yaml.Unmarshal(raw, &rc.Config); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	found := 0
	for _, p := range rc.Config.KubeadmConfigPatches {
		var cc clusterConfiguration
		if err := yaml.Unmarshal([]byte(p), &cc); err != nil {
			t.Fatalf("config.yaml kubeadmConfigPatches entry is not YAML: %v", err)
		}
		if cc.Kind != "ClusterConfiguration" {
			continue
		}
		found++
		rc.Patch = cc
		switch args := cc.APIServer.ExtraArgs.(type) {
		case nil:
		case map[string]interface{}:
			for k, v := range args {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("extraArgs[%s] is %T, kubeadm wants strings (quote it)", k, v)
				}
				rc.ExtraArgs[k] = s
			}
		case []interface{}:
			for _, a := range args {
				m, _ := a.(map[string]interface{})
				name, _ := m["name"].(string)
				value, ok := m["value"].(string)
				if name == "" || !ok {
					t.Fatalf("extraArgs list entry %v needs string name and value", a)
				}
				rc.ExtraArgs[name] = value
			}
		default:
			t.Fatalf("extraArgs has unexpected type %T", args)
		}
	}
	if found != 1 {
		t.Fatalf("%s/config.yaml: want exactly one ClusterConfiguration patch, found %d", dir, found)
	}
	return rc
}

// hostPathFor follows a path the apiserver sees through the pod's
// extraVolumes and the node's extraMounts back to the host, which is what
// must hold the file. It fails when either hop is missing, since then the
// apiserver in a real kind node would not find the file.
func (rc renderedCluster) hostPathFor(t *testing.T, podPath string) string {
	t.Helper()
	nodePath := ""
	for _, v := range rc.Patch.APIServer.ExtraVolumes {
		if rel, ok := under(podPath, v.MountPath); ok {
			nodePath = filepath.Join(v.HostPath, rel)
		}
	}
	if nodePath == "" {
		t.Fatalf("%s: no apiServer.extraVolumes entry mounts %s into the apiserver pod", rc.Dir, podPath)
	}
	for _, n := range rc.Config.Nodes {
		if n.Role != "control-plane" {
			continue
		}
		for _, m := range n.ExtraMounts {
			if rel, ok := under(nodePath, m.ContainerPath); ok {
				return filepath.Join(m.HostPath, rel)
			}
		}
	}
	t.Fatalf("%s: no control-plane extraMounts entry brings %s into the node", rc.Dir, nodePath)
	return ""
}

func under(p, dir string) (string, bool) {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	if p == dir {
		return ".", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir)+1:], true
	}
	return "", false
}
