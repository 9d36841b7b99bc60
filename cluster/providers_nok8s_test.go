//go:build !k8s

package cluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/staylock/staylock/cluster"
)

// The default build leaves the Kubernetes provider out; asking for it says
// how to get a binary that has it.
func TestK8sProviderNeedsTheBuildTag(t *testing.T) {
	if cluster.K8sProvider {
		t.Fatal("K8sProvider is true in a build without the k8s tag")
	}
	n, err := cluster.Start(MustOpen(t, ""), cluster.Options{Provider: cluster.ProviderK8s})
	if err == nil {
		n.Shutdown(false)
		t.Fatal("CLUSTER_PROVIDER=k8s started without the Kubernetes provider built in")
	}
	if !errors.Is(err, cluster.ErrNoK8sProvider) || !strings.Contains(err.Error(), "make build-k8s") {
		t.Errorf("error %q should say to build with `make build-k8s`", err)
	}
}
