package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// kindRelease is one kind binary built by run.sh with `go install
// sigs.k8s.io/kind@VERSION` and the config apiVersions it can load.
// v1alpha3 is gone after v0.8; v0.8's v1alpha4 has no `name` field, so
// audit-lab's v1alpha4 output is held to v0.9+ (v0.11.1 is the kind whose
// node images dynamic mode uses; v0.33.0 is current).
type kindRelease struct {
	version string
	loads   map[string]bool
}

var kindReleases = []kindRelease{
	{"v0.8.1", map[string]bool{"kind.sigs.k8s.io/v1alpha3": true}},
	{"v0.11.1", map[string]bool{"kind.x-k8s.io/v1alpha4": true}},
	{"v0.33.0", map[string]bool{"kind.x-k8s.io/v1alpha4": true}},
}

// kindBinary finds the binary for a release in $CONFORMANCE_KIND_DIR/<version>/kind.
func kindBinary(t *testing.T, version string) string {
	t.Helper()
	root := os.Getenv("CONFORMANCE_KIND_DIR")
	if root == "" {
		t.Fatal("CONFORMANCE_KIND_DIR is not set: run this through test/conformance/run.sh")
	}
	bin := filepath.Join(root, version, "kind")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kind %s: %v", version, err)
	}
	return bin
}

type kindRun struct {
	output string   // kind's combined stdout and stderr
	docker []string // every docker command kind ran, in order
	err    error
}

// provisioned reports whether kind got past loading, defaulting and
// validating the config: every release validates before its first
// docker command that is neither a version/info probe nor the `ps` that
// checks for an existing cluster.
func (r kindRun) provisioned() bool {
	for _, c := range r.docker {
		f := strings.Fields(c)
		if len(f) > 1 && f[1] != "-v" && f[1] != "info" && f[1] != "ps" && f[1] != "version" {
			return true
		}
	}
	return false
}

// runKind runs `kind create cluster --config cfg` with the fake docker
// first on PATH and a private HOME, so nothing outside the test dir is
// touched even if a real docker were installed.
func runKind(t *testing.T, bin, cfg string) kindRun {
	t.Helper()
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("fakedocker/docker")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "docker"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(tmp, "docker.log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "create", "cluster", "--config", cfg,
		"--kubeconfig", filepath.Join(tmp, "kubeconfig"), "--retain")
	cmd.Env = []string{
		"PATH=" + fake + ":/usr/bin:/bin",
		"HOME=" + tmp,
		"FAKE_DOCKER_LOG=" + log,
		"KIND_EXPERIMENTAL_PROVIDER=docker",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kind did not finish in 2 minutes:\n%s", out.String())
	}
	r := kindRun{output: out.String(), err: runErr}
	if b, err := os.ReadFile(log); err == nil {
		r.docker = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return r
}

const runtimeRefusal = "fake docker: no container runtime"

// TestKindLoadsRenderedConfigs: every rendered config.yaml, fed to each kind
// release that speaks its apiVersion, must get through kind's strict
// decoding, defaulting and validation and fail only at the first step that
// needs a container runtime.
func TestKindLoadsRenderedConfigs(t *testing.T) {
	configs := renderedFiles(t, "config.yaml")
	dirs := make([]string, 0, len(configs))
	for d := range configs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		cfg := configs[dir]
		api := loadKindConfig(t, dir).Config.APIVersion
		tested := 0
		for _, rel := range kindReleases {
			if !rel.loads[api] {
				continue
			}
			tested++
			t.Run(filepath.Base(dir)+"/kind-"+rel.version, func(t *testing.T) {
				r := runKind(t, kindBinary(t, rel.version), cfg)
				if r.err == nil {
					t.Fatalf("kind succeeded with a fake docker?\n%s", r.output)
				}
				if !r.provisioned() || !strings.Contains(r.output, runtimeRefusal) {
					t.Fatalf("kind %s stopped before provisioning (a config problem?):\n%s\ndocker calls: %q",
						rel.version, r.output, r.docker)
				}
				t.Logf("kind %s got as far as: %s", rel.version, r.docker[len(r.docker)-1])
			})
		}
		if tested == 0 {
			t.Errorf("%s: apiVersion %q is loaded by none of the kind releases checked", cfg, api)
		}
	}
}

// TestKindRejectsBrokenConfigs is the control for the test above: the same
// harness, given a broken variant of a rendered config, must see kind fail
// with its own config error and never reach the container runtime.
// Otherwise "got to provisioning" would prove nothing.
func TestKindRejectsBrokenConfigs(t *testing.T) {
	byAPI := map[string]string{}
	for dir, cfg := range renderedFiles(t, "config.yaml") {
		byAPI[loadKindConfig(t, dir).Config.APIVersion] = cfg
	}
	for _, rel := range kindReleases {
		for api := range rel.loads {
			cfg, ok := byAPI[api]
			if !ok {
				continue
			}
			raw, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			broken := []struct{ name, from, to, want string }{
				{"unknown field", "nodes:", "nodez: []\nnodes:", "unable to decode config"},
				{"bad role", "role: control-plane", "role: master", `"master" is not a valid node role`},
			}
			for _, b := range broken {
				t.Run(fmt.Sprintf("kind-%s/%s/%s", rel.version, api[strings.LastIndex(api, "/")+1:], strings.ReplaceAll(b.name, " ", "-")), func(t *testing.T) {
					text := strings.Replace(string(raw), b.from, b.to, 1)
					if text == string(raw) {
						t.Fatalf("%s has no %q to break", cfg, b.from)
					}
					path := filepath.Join(t.TempDir(), "config.yaml")
					if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					r := runKind(t, kindBinary(t, rel.version), path)
					if r.err == nil || r.provisioned() || !strings.Contains(r.output, b.want) {
						t.Fatalf("want kind to fail with %q before provisioning, got err=%v:\n%s\ndocker calls: %q",
							b.want, r.err, r.output, r.docker)
					}
				})
			}
		}
	}
	// And current kind no longer loads the seed's v1alpha3 form at all.
	if cfg, ok := byAPI["kind.sigs.k8s.io/v1alpha3"]; ok {
		r := runKind(t, kindBinary(t, "v0.33.0"), cfg)
		if r.err == nil || !strings.Contains(r.output, "unknown apiVersion: kind.sigs.k8s.io/v1alpha3") {
			t.Fatalf("kind v0.33.0 on a v1alpha3 config: want unknown apiVersion, got:\n%s", r.output)
		}
	}
}
