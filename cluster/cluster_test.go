//go:build !race

// The multi-member tests run without the race detector: protoactor-go's
// remote.Start calls grpclog.SetLoggerV2 on every member start, which races
// with the gRPC logging of the members already running in the same process
// (an upstream, benign global write). `make test-cluster` runs them.

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/persistence/pgtest"
)

// member is one started node and the coordinator over it, as serve wires
// them.
type member struct {
	*cluster.Node
	engine *actors.Coordinator
}

// testCluster is n members in this process sharing one in-memory
// membership agent and one Postgres database.
type testCluster struct {
	agent *test.InMemAgent
	dbURL string
	nodes []*member
}

func MustStartCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc := &testCluster{agent: test.NewInMemAgent(), dbURL: pgtest.NewDatabase(t)}
	for range n {
		tc.MustAdd(t)
	}
	tc.MustConverge(t)
	return tc
}

// MustAdd starts one more member.
func (tc *testCluster) MustAdd(t *testing.T) *member {
	t.Helper()
	store := MustOpen(t, tc.dbURL)
	n, err := cluster.Start(store, cluster.WithAgent(cluster.Options{Logger: logger(t),
		RequestTimeout: 10 * time.Second, Actor: actors.Options{GroupCommit: true}}, tc.agent))
	if err != nil {
		t.Fatalf("start member: %v", err)
	}
	t.Cleanup(func() { n.Shutdown(false) })
	m := &member{Node: n, engine: actors.NewCoordinator(n, store, n.RequestTimeout(), logger(t))}
	tc.nodes = append(tc.nodes, m)
	return m
}

// MustConverge waits until every running member sees all running members.
func (tc *testCluster) MustConverge(t *testing.T) {
	t.Helper()
	poll.EventuallyNil(t, 10*time.Second, "every member seeing every running member", func() error {
		want := 0
		for _, n := range tc.nodes {
			if n.Ready(context.Background()) == nil {
				want++
			}
		}
		for i, n := range tc.nodes {
			if n.Ready(context.Background()) != nil {
				continue
			}
			if got := n.Members(); got != want {
				return fmt.Errorf("member %d sees %d members, want %d", i, got, want)
			}
		}
		return nil
	})
}

func logger(t *testing.T) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	return zap.NewNop()
}

func MustPutRoomType(t testing.TB, n *member, id string, rooms int32) {
	t.Helper()
	if _, _, err := n.engine.PutRoomType(context.Background(), booking.RoomType{Tenant: tenant, Property: property, ID: id,
		Name: "Room " + id, Rooms: rooms, Price: 10000}); err != nil {
		t.Fatalf("put room type %s: %v", id, err)
	}
}

func book(ctx context.Context, n *member, rt string, arrival string, nights int, key string) (booking.Reservation, error) {
	var idem *booking.Idempotency
	if key != "" {
		idem = &booking.Idempotency{Key: key, RequestHash: "h-" + key, Status: 201}
	}
	a := date(arrival)
	return n.engine.CreateReservation(ctx, booking.NewReservation{Tenant: tenant, Property: property, Currency: "EUR",
		Stays:   []booking.Stay{{RoomType: rt, Arrival: a, Departure: a + booking.Date(nights), Quantity: 1}},
		Guest:   booking.Guest{Name: "Guest"},
		Channel: "test"}, idem)
}

func bookedOn(t testing.TB, n *member, rt, night string) int32 {
	t.Helper()
	av, err := n.engine.Availability(context.Background(), tenant, property, []string{rt}, date(night), date(night)+1)
	if err != nil {
		t.Fatalf("availability %s: %v", rt, err)
	}
	return av[0].Nights[0].Booked
}

func TestCluster_EveryMemberReachesTheOneActivationOfARoomType(t *testing.T) {
	tc := MustStartCluster(t, 3)
	rts := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i, rt := range rts {
		MustPutRoomType(t, tc.nodes[i%3], rt, 5)
	}
	// Room types are spread over the members.
	owners := map[string]bool{}
	for _, rt := range rts {
		owners[tc.nodes[0].Owner(actors.Identity(tenant, property, rt))] = true
	}
	if len(owners) < 2 {
		t.Fatalf("8 room types all owned by %v", owners)
	}
	// 8 bookings per room type, raced through all three members, sell
	// exactly the 5 rooms: one activation decides for each room type.
	var mu sync.Mutex
	confirmed := map[string]int{}
	var wg sync.WaitGroup
	for _, rt := range rts {
		for i := range 8 {
			wg.Go(func() {
				_, err := book(context.Background(), tc.nodes[i%3], rt, "2027-03-01", 2, fmt.Sprintf("%s-%d", rt, i))
				switch {
				case err == nil:
					mu.Lock()
					confirmed[rt]++
					mu.Unlock()
				case booking.ErrorCode(err) == booking.CodeSoldOut:
				default:
					t.Errorf("book %s: %v", rt, err)
				}
			})
		}
	}
	wg.Wait()
	for _, rt := range rts {
		if confirmed[rt] != 5 {
			t.Errorf("%s: %d confirmed, want 5", rt, confirmed[rt])
		}
		for _, n := range tc.nodes {
			if got := bookedOn(t, n, rt, "2027-03-02"); got != 5 {
				t.Errorf("%s read through %s: booked %d, want 5", rt, n.Address(), got)
			}
		}
	}
}

func TestCluster_RoomTypesOfAMemberThatLeavesAnswerOnTheSurvivors(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		name := map[bool]string{true: "graceful leave", false: "crash"}[graceful]
		t.Run(name, func(t *testing.T) {
			tc := MustStartCluster(t, 3)
			rts := []string{"a", "b", "c", "d", "e", "f"}
			for _, rt := range rts {
				MustPutRoomType(t, tc.nodes[0], rt, 10)
			}
			for i, rt := range rts {
				if _, err := book(context.Background(), tc.nodes[i%3], rt, "2027-03-01", 1, "before-"+rt); err != nil {
					t.Fatalf("book %s: %v", rt, err)
				}
			}
			gone := tc.nodes[2]
			var moved []string
			for _, rt := range rts {
				if tc.nodes[0].Owner(actors.Identity(tenant, property, rt)) == gone.Address() {
					moved = append(moved, rt)
				}
			}
			if graceful {
				gone.Shutdown(true)
			} else {
				tc.agent.DeregisterService(gone.MemberID()) // the provider notices the death
				gone.Shutdown(false)
			}
			tc.nodes = tc.nodes[:2]
			tc.MustConverge(t)
			start := time.Now()
			for i, rt := range rts {
				if _, err := book(context.Background(), tc.nodes[i%2], rt, "2027-03-01", 1, "after-"+rt); err != nil {
					t.Fatalf("book %s after the member left: %v", rt, err)
				}
				if got := bookedOn(t, tc.nodes[(i+1)%2], rt, "2027-03-01"); got != 2 {
					t.Errorf("%s: booked %d after failover, want 2", rt, got)
				}
			}
			t.Logf("%s: %d room types moved (%v); all answered again within %s", name, len(moved), moved, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestCluster_ACallBoundedByItsContextEvenWhenTheLookupHangs(t *testing.T) {
	tc := MustStartCluster(t, 2)
	MustPutRoomType(t, tc.nodes[0], "a", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// A member that the provider still lists but that does not answer: the
	// second member's actor system is gone, its membership is not.
	dead := tc.nodes[1]
	dead.Shutdown(false)
	var rt string
	for i := range 50 {
		cand := fmt.Sprintf("r%d", i)
		if tc.nodes[0].Owner(actors.Identity(tenant, property, cand)) == dead.Address() {
			rt = cand
			break
		}
	}
	if rt == "" {
		t.Fatal("no identity owned by the dead member")
	}
	start := time.Now()
	_, err := tc.nodes[0].engine.Availability(ctx, tenant, property, []string{rt}, date("2027-03-01"), date("2027-03-02"))
	if err == nil {
		t.Fatal("availability from a dead owner succeeded")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("call took %s with a 50ms context (protoactor's lookup waits 5s)", took)
	}
	if errors.Is(err, booking.ErrMaybeDone) {
		t.Fatalf("a read answered ErrMaybeDone: %v", err)
	}
}

// BenchmarkForward measures one read (availability of one night, answered
// from memory, no commit) through member 0's client, for a room type whose
// actor lives on member 0 (local) and on member 1 (remote: one gRPC round
// trip on loopback, protobuf both ways). The difference is the cost of a
// forward. `go test -run '^$' -bench Forward ./cluster/`
func BenchmarkForward(b *testing.B) {
	tc := &testCluster{agent: test.NewInMemAgent(), dbURL: pgtest.NewDatabase(b)}
	for range 2 {
		store := MustOpen(b, tc.dbURL)
		n, err := cluster.Start(store, cluster.WithAgent(cluster.Options{Logger: zap.NewNop(), Actor: actors.Options{GroupCommit: true}}, tc.agent))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Shutdown(false) })
		tc.nodes = append(tc.nodes, &member{Node: n, engine: actors.NewCoordinator(n, store, n.RequestTimeout(), zap.NewNop())})
	}
	poll.Eventually(b, 10*time.Second, "two members that see each other", func() bool {
		return tc.nodes[0].Members() == 2 && tc.nodes[1].Members() == 2
	})
	owned := map[string]string{} // "local"/"remote" → room type
	for i := 0; len(owned) < 2; i++ {
		rt := fmt.Sprintf("r%d", i)
		where := "remote"
		if tc.nodes[0].Owner(actors.Identity(tenant, property, rt)) == tc.nodes[0].Address() {
			where = "local"
		}
		if _, ok := owned[where]; !ok {
			owned[where] = rt
			MustPutRoomType(b, tc.nodes[0], rt, 10)
		}
	}
	from := date("2027-03-01")
	for _, where := range []string{"local", "remote"} {
		rt := owned[where]
		for _, par := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", where, par), func(b *testing.B) {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := tc.nodes[0].engine.Availability(context.Background(), tenant, property, []string{rt}, from, from+1); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
