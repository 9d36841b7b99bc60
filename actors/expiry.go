package actors

import (
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// expiryTick is the expiry timer's message to its actor.
type expiryTick struct{}

// expire releases holds whose time has come. A hold taken for a reservation
// that spans several room types is converted instead when the store shows
// that reservation confirmed: its coordinator died before converting.
func (a *inventoryActor) expire() {
	now := a.opts.now()
	for _, id := range a.tentative.ExpiredHolds(now) {
		if a.batchFull() {
			break // the rest on the next tick, after this commit
		}
		h := a.tentative.Holds[id]
		ev, _ := a.tentative.DecideReleaseHold(id, "expired")
		if resID, version, ok := parseHoldTag(h.Reservation); ok {
			if r, err := a.currentRow(resID); err == nil && r.Status == booking.StatusConfirmed && r.Version >= version {
				ev = booking.Event{Kind: booking.EventHoldConverted, Hold: id, Reservation: resID}
			} else if err != nil && booking.ErrorCode(err) != booking.CodeNotFound {
				a.log.Warn("hold expiry deferred: reservation unreadable", zap.String("hold", id), zap.Error(err))
				continue
			}
		}
		e := &entry{events: []booking.Event{ev}, del: []persistence.HoldRow{a.holdRow(id, time.Time{})}, reply: &Reply{}}
		a.applyTentative(e)
		a.collecting.add(e)
	}
	a.scheduleExpiry()
}

// scheduleExpiry sets the timer for the next hold to expire.
func (a *inventoryActor) scheduleExpiry() {
	next := a.tentative.NextExpiry()
	if next.IsZero() || (!a.expiryAt.IsZero() && a.expiryAt.Equal(next) && a.expiryTimer != nil) {
		return
	}
	if a.expiryTimer != nil {
		a.expiryTimer.Stop()
	}
	a.expiryAt = next
	d := max(next.Sub(a.opts.now()), 10*time.Millisecond)
	sys, self := a.system, a.self
	a.expiryTimer = time.AfterFunc(d, func() { sys.Root.Send(self, &expiryTick{}) })
}
