package cluster

import (
	"errors"

	protocluster "github.com/asynkron/protoactor-go/cluster"
)

// localProvider is the membership of a node alone (CLUSTER_PROVIDER=local,
// the embedded default): at start it publishes a topology of this member
// and nothing else, which never changes, so the member owns every actor.
//
// Why not protoactor's providers: the test provider is made for tests (its
// TTL goroutine is never stopped, and its in-memory agent is state shared
// by every member that is handed it); automanaged serves a health endpoint
// on a second port on every interface and polls it; etcd and Kubernetes
// need a server.
type localProvider struct{}

// StartMember publishes this member as the whole cluster.
func (localProvider) StartMember(c *protocluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	c.MemberList.UpdateClusterTopology([]*protocluster.Member{
		{Id: c.ActorSystem.ID, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()},
	})
	return nil
}

func (localProvider) StartClient(*protocluster.Cluster) error {
	return errors.New("local provider: client mode is not supported")
}

// Shutdown has nothing to stop: there is no peer to tell.
func (localProvider) Shutdown(bool) error { return nil }
