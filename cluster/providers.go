package cluster

import (
	"errors"
	"fmt"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdDialTimeout bounds the first connection to etcd at start.
const etcdDialTimeout = 5 * time.Second

// newProvider builds the membership provider named by opts.Provider.
func newProvider(opts Options, log *zap.Logger, r *router, g *guard, onEvicted func(error)) (protocluster.ClusterProvider, error) {
	switch opts.Provider {
	case ProviderLocal:
		if opts.inProcess != nil {
			// Several members of one process: tests only.
			return opts.inProcess(), nil
		}
		return localProvider{}, nil
	case ProviderSeeds:
		if len(opts.Seeds) == 0 {
			return nil, errors.New("CLUSTER_SEEDS: required with the seeds provider (every node's CLUSTER_BIND, comma-separated)")
		}
		seeds := make([]string, 0, len(opts.Seeds))
		for _, s := range opts.Seeds {
			a, err := normalizeAddr(s)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER_SEEDS: %q must be host:port: %w", s, err)
			}
			seeds = append(seeds, a)
		}
		self, err := normalizeAddr(opts.Bind)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER_BIND %q: %w", opts.Bind, err)
		}
		if _, port, _ := splitPort(self); port == "0" {
			return nil, errors.New("CLUSTER_BIND: the seeds provider needs a fixed port (the one listed in CLUSTER_SEEDS), not 0")
		}
		return newSeedsProvider(seeds, opts.Timing, log.Named("seeds"), r, g, onEvicted), nil
	case ProviderEtcd:
		if len(opts.EtcdEndpoints) == 0 {
			return nil, errors.New("ETCD_ENDPOINTS: required with the etcd provider")
		}
		elog := log.Named("etcd").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
		p, err := etcd.NewWithConfig("/"+ClusterName, clientv3.Config{Endpoints: opts.EtcdEndpoints,
			DialTimeout: etcdDialTimeout, Logger: elog})
		if err != nil {
			return nil, fmt.Errorf("ETCD_ENDPOINTS %v: %w", opts.EtcdEndpoints, err)
		}
		return p, nil
	case ProviderK8s:
		return newK8sProvider()
	default:
		return nil, fmt.Errorf("CLUSTER_PROVIDER %q: want local, seeds, etcd or k8s", opts.Provider)
	}
}
