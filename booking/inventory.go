package booking

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Night holds what one night of a room type overrides and what is taken.
// Zero values mean "follow the room type's defaults".
type Night struct {
	Total    int32 `json:"total,omitempty"`
	HasTotal bool  `json:"has_total,omitempty"`
	Price    int64 `json:"price,omitempty"`
	HasPrice bool  `json:"has_price,omitempty"`
	StopSell bool  `json:"stop_sell,omitempty"`
	MinStay  int32 `json:"min_stay,omitempty"`
	Booked   int32 `json:"booked,omitempty"`
	Held     int32 `json:"held,omitempty"`
}

// HeldStays is one hold's part on one room type.
type HeldStays struct {
	Stays     []Stay    `json:"stays"`
	ExpiresAt time.Time `json:"expires_at"`
	// Reservation is set when the hold was taken for a reservation that spans
	// several room types: on expiry the owner checks whether that reservation
	// was confirmed before releasing.
	Reservation string `json:"reservation,omitempty"`
}

// Inventory is the whole state of one room type: its defaults, its calendar,
// who holds what. The inventory actor owns one; every change goes through a
// Decide* method (which only reads) and then Apply (which only writes).
type Inventory struct {
	Exists      bool                 `json:"exists"`
	Name        string               `json:"name"`
	Rooms       int32                `json:"rooms"`
	Price       int64                `json:"price"`
	Nights      map[Date]*Night      `json:"nights"`
	Allocations map[string][]Stay    `json:"allocations"`
	Holds       map[string]HeldStays `json:"holds"`
	Seq         int64                `json:"seq"`
	// PrunedBefore: the nights before it were dropped from the state (see
	// EventPruned); they read as the defaults and are never counted again.
	PrunedBefore Date `json:"pruned_before,omitempty"`
}

// NewInventory returns an empty, unconfigured inventory.
func NewInventory() *Inventory {
	return &Inventory{Nights: map[Date]*Night{}, Allocations: map[string][]Stay{}, Holds: map[string]HeldStays{}}
}

// Clone returns a deep copy.
func (inv *Inventory) Clone() *Inventory {
	c := *inv
	c.Nights = make(map[Date]*Night, len(inv.Nights))
	for d, n := range inv.Nights {
		nn := *n
		c.Nights[d] = &nn
	}
	c.Allocations = make(map[string][]Stay, len(inv.Allocations))
	for k, v := range inv.Allocations {
		c.Allocations[k] = slices.Clone(v)
	}
	c.Holds = make(map[string]HeldStays, len(inv.Holds))
	for k, h := range inv.Holds {
		h.Stays = slices.Clone(h.Stays)
		c.Holds[k] = h
	}
	return &c
}

// NightView is what the API shows of one night.
type NightView struct {
	Date      Date  `json:"date"`
	Total     int32 `json:"total"`
	Booked    int32 `json:"booked"`
	Held      int32 `json:"held"`
	Available int32 `json:"available"`
	Price     int64 `json:"price"`
	StopSell  bool  `json:"stop_sell"`
	MinStay   int32 `json:"min_stay"`
}

// View returns the effective state of night d.
func (inv *Inventory) View(d Date) NightView {
	v := NightView{Date: d, Total: inv.Rooms, Price: inv.Price, MinStay: 1}
	if n := inv.Nights[d]; n != nil {
		if n.HasTotal {
			v.Total = n.Total
		}
		if n.HasPrice {
			v.Price = n.Price
		}
		if n.MinStay > 1 {
			v.MinStay = n.MinStay
		}
		v.StopSell, v.Booked, v.Held = n.StopSell, n.Booked, n.Held
	}
	v.Available = Available(v.Total, v.Booked, v.Held, v.StopSell)
	return v
}

// Available is the API's rule: max(0, total-booked-held), or 0 under stop-sell.
func Available(total, booked, held int32, stopSell bool) int32 {
	if stopSell {
		return 0
	}
	return max(0, total-booked-held)
}

// Availability returns the nights [from, to).
func (inv *Inventory) Availability(from, to Date) []NightView {
	out := make([]NightView, 0, max(0, int(to-from)))
	for d := from; d < to; d++ {
		out = append(out, inv.View(d))
	}
	return out
}

// Price is what stays cost at the current nightly prices.
func (inv *Inventory) PriceOf(stays []Stay) int64 {
	var sum int64
	for _, s := range stays {
		for d := s.Arrival; d < s.Departure; d++ {
			sum += inv.View(d).Price * int64(s.Quantity)
		}
	}
	return sum
}

// EventKind names a change to an inventory.
type EventKind string

// The kinds of journal events.
const (
	EventRoomTypeSet   EventKind = "room_type_set"
	EventInventorySet  EventKind = "inventory_set"
	EventBooked        EventKind = "booked"
	EventModified      EventKind = "modified"
	EventCancelled     EventKind = "cancelled"
	EventHeld          EventKind = "held"
	EventHoldReleased  EventKind = "hold_released"
	EventHoldConverted EventKind = "hold_converted"
	// EventPruned drops the nights before Before and the allocations that
	// ended by then, so that the state stops growing with history (the
	// reservations table keeps every reservation).
	EventPruned EventKind = "pruned"
)

// InventoryUpdate changes nights [From, To) of one room type; nil fields stay.
type InventoryUpdate struct {
	RoomType string `json:"room_type"`
	From     Date   `json:"from"`
	To       Date   `json:"to"`
	Total    *int32 `json:"total,omitempty"`
	Price    *int64 `json:"price,omitempty"`
	StopSell *bool  `json:"stop_sell,omitempty"`
	MinStay  *int32 `json:"min_stay,omitempty"`
}

// Validate checks one update, naming fields with prefix.
func (u InventoryUpdate) Validate(fe FieldErrors, prefix string) {
	if !ValidID(u.RoomType) {
		fe.Add(prefix+"room_type", IDRule)
	}
	ValidateRange(fe, prefix+"from", prefix+"to", u.From, u.To)
	if u.Total != nil && (*u.Total < 0 || *u.Total > MaxRooms) {
		fe.Add(prefix+"total", fmt.Sprintf("must be between 0 and %d", MaxRooms))
	}
	if u.Price != nil && *u.Price < 0 {
		fe.Add(prefix+"price", "must not be negative")
	}
	if u.MinStay != nil && (*u.MinStay < 1 || *u.MinStay > MaxRangeNights) {
		fe.Add(prefix+"min_stay", fmt.Sprintf("must be between 1 and %d", MaxRangeNights))
	}
}

// Event is one committed change; Apply replays it exactly.
type Event struct {
	Kind        EventKind         `json:"kind"`
	Reservation string            `json:"reservation,omitempty"`
	Hold        string            `json:"hold,omitempty"`
	Stays       []Stay            `json:"stays,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	Updates     []InventoryUpdate `json:"updates,omitempty"`
	Name        string            `json:"name,omitempty"`
	Rooms       int32             `json:"rooms,omitempty"`
	Price       int64             `json:"price,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Before      Date              `json:"before,omitempty"`
}

func (inv *Inventory) night(d Date) *Night {
	n := inv.Nights[d]
	if n == nil {
		n = &Night{}
		inv.Nights[d] = n
	}
	return n
}

// addBooked and addHeld skip pruned nights: a reservation that straddles
// the cut gives back only the nights still kept.
func (inv *Inventory) addBooked(stays []Stay, sign int32) {
	for _, s := range stays {
		for d := max(s.Arrival, inv.PrunedBefore); d < s.Departure; d++ {
			inv.night(d).Booked += sign * s.Quantity
		}
	}
}

func (inv *Inventory) addHeld(stays []Stay, sign int32) {
	for _, s := range stays {
		for d := max(s.Arrival, inv.PrunedBefore); d < s.Departure; d++ {
			inv.night(d).Held += sign * s.Quantity
		}
	}
}

// DecidePrune returns the event that drops the history before before: the
// nights before it and the allocations whose every stay departed by then.
// ok is false when there is nothing to drop (or before is not past the
// last cut), so that an idle room type writes nothing.
func (inv *Inventory) DecidePrune(before Date) (e Event, nights, allocations int, ok bool) {
	if before <= inv.PrunedBefore {
		return Event{}, 0, 0, false
	}
	for d := range inv.Nights {
		if d < before {
			nights++
		}
	}
	for _, stays := range inv.Allocations {
		if endedBy(stays, before) {
			allocations++
		}
	}
	if nights == 0 && allocations == 0 {
		return Event{}, 0, 0, false
	}
	return Event{Kind: EventPruned, Before: before}, nights, allocations, true
}

// endedBy tells whether every stay departed by d.
func endedBy(stays []Stay, d Date) bool {
	for _, s := range stays {
		if s.Departure > d {
			return false
		}
	}
	return true
}

// Apply changes the inventory by one event and advances Seq. It never fails:
// every event it sees was decided against this same state.
func (inv *Inventory) Apply(e Event) {
	inv.Seq++
	switch e.Kind {
	case EventRoomTypeSet:
		inv.Exists, inv.Name, inv.Rooms, inv.Price = true, e.Name, e.Rooms, e.Price
	case EventInventorySet:
		for _, u := range e.Updates {
			for d := u.From; d < u.To; d++ {
				n := inv.night(d)
				if u.Total != nil {
					n.Total, n.HasTotal = *u.Total, true
				}
				if u.Price != nil {
					n.Price, n.HasPrice = *u.Price, true
				}
				if u.StopSell != nil {
					n.StopSell = *u.StopSell
				}
				if u.MinStay != nil {
					n.MinStay = *u.MinStay
				}
			}
		}
	case EventBooked, EventModified:
		inv.addBooked(inv.Allocations[e.Reservation], -1)
		inv.setAllocation(e.Reservation, e.Stays)
		inv.addBooked(e.Stays, 1)
	case EventCancelled:
		inv.addBooked(inv.Allocations[e.Reservation], -1)
		delete(inv.Allocations, e.Reservation)
	case EventHeld:
		inv.Holds[e.Hold] = HeldStays{Stays: e.Stays, ExpiresAt: e.ExpiresAt, Reservation: e.Reservation}
		inv.addHeld(e.Stays, 1)
	case EventHoldReleased:
		inv.addHeld(inv.Holds[e.Hold].Stays, -1)
		delete(inv.Holds, e.Hold)
	case EventHoldConverted:
		h := inv.Holds[e.Hold]
		inv.addHeld(h.Stays, -1)
		delete(inv.Holds, e.Hold)
		inv.addBooked(inv.Allocations[e.Reservation], -1)
		inv.setAllocation(e.Reservation, h.Stays)
		inv.addBooked(h.Stays, 1)
	case EventPruned:
		// The kept entries move to new maps: a Go map never gives back the
		// memory of deleted entries, so deleting would leave the state as
		// large as its history.
		inv.PrunedBefore = max(inv.PrunedBefore, e.Before)
		nights := make(map[Date]*Night)
		for d, n := range inv.Nights {
			if d >= inv.PrunedBefore {
				nights[d] = n
			}
		}
		allocations := make(map[string][]Stay)
		for id, stays := range inv.Allocations {
			if !endedBy(stays, inv.PrunedBefore) {
				allocations[id] = stays
			}
		}
		inv.Nights, inv.Allocations = nights, allocations
	}
}

func (inv *Inventory) setAllocation(res string, stays []Stay) {
	if len(stays) == 0 {
		delete(inv.Allocations, res)
		return
	}
	inv.Allocations[res] = stays
}

// demand sums the rooms stays take per night.
func demand(stays []Stay) map[Date]int32 {
	m := map[Date]int32{}
	for _, s := range stays {
		for d := s.Arrival; d < s.Departure; d++ {
			m[d] += s.Quantity
		}
	}
	return m
}

func sortedDates(m map[Date]int32) []Date {
	ds := make([]Date, 0, len(m))
	for d := range m {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// checkRestrictions refuses stays that a stop-sell night or a min stay blocks.
func (inv *Inventory) checkRestrictions(roomType string, stays []Stay) error {
	for _, s := range stays {
		if ms := inv.View(s.Arrival).MinStay; int(ms) > s.Nights() {
			return &Error{Code: CodeRestricted,
				Message: fmt.Sprintf("%s arriving %s needs at least %d nights", roomType, s.Arrival, ms),
				Details: map[string]any{"room_type": roomType, "reason": "min_stay", "min_stay": ms, "nights": []string{s.Arrival.String()}}}
		}
		var stopped []string
		for d := s.Arrival; d < s.Departure; d++ {
			if inv.View(d).StopSell {
				stopped = append(stopped, d.String())
			}
		}
		if len(stopped) > 0 {
			return &Error{Code: CodeRestricted,
				Message: fmt.Sprintf("%s is closed to sale on %d night(s)", roomType, len(stopped)),
				Details: map[string]any{"room_type": roomType, "reason": "stop_sell", "nights": stopped}}
		}
	}
	return nil
}

// checkFit refuses adding `add` while giving back `release`, when some night
// would go over its total.
func (inv *Inventory) checkFit(roomType string, add, release map[Date]int32) error {
	var short []Date
	for _, d := range sortedDates(add) {
		extra := add[d] - release[d]
		if extra <= 0 {
			continue
		}
		v := inv.View(d)
		if extra > v.Total-v.Booked-v.Held {
			short = append(short, d)
		}
	}
	if len(short) > 0 {
		return SoldOut(roomType, short)
	}
	return nil
}

func (inv *Inventory) requireExists(roomType string) error {
	if !inv.Exists {
		return NotFound(KindRoomType, roomType)
	}
	return nil
}

// DecideBook books stays (all of this room type) for a new reservation.
func (inv *Inventory) DecideBook(roomType, res string, stays []Stay) (Event, error) {
	if err := inv.requireExists(roomType); err != nil {
		return Event{}, err
	}
	if _, ok := inv.Allocations[res]; ok {
		return Event{}, Conflict(KindReservation, res, map[string]any{"room_type": roomType}, "reservation %s already holds rooms of %s", res, roomType)
	}
	if err := inv.checkRestrictions(roomType, stays); err != nil {
		return Event{}, err
	}
	if err := inv.checkFit(roomType, demand(stays), nil); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventBooked, Reservation: res, Stays: stays}, nil
}

// DecideModify replaces a reservation's stays of this room type in one step:
// the old rooms count as free for the new stays, so a stay can grow or move
// where the two overlap. Restrictions apply to stays not already held.
// An empty stays gives the rooms back.
func (inv *Inventory) DecideModify(roomType, res string, stays []Stay) (Event, error) {
	if err := inv.requireExists(roomType); err != nil {
		return Event{}, err
	}
	old := inv.Allocations[res]
	var changed []Stay
	for _, s := range stays {
		if !slices.Contains(old, s) {
			changed = append(changed, s)
		}
	}
	if err := inv.checkRestrictions(roomType, changed); err != nil {
		return Event{}, err
	}
	if err := inv.checkFit(roomType, demand(stays), demand(old)); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventModified, Reservation: res, Stays: stays}, nil
}

// DecideCancel gives back a reservation's rooms; ok is false when it holds
// none here (already cancelled), so nothing is released twice.
func (inv *Inventory) DecideCancel(res string) (e Event, ok bool) {
	if _, held := inv.Allocations[res]; !held {
		return Event{}, false
	}
	return Event{Kind: EventCancelled, Reservation: res}, true
}

// DecideHold puts rooms aside until expiresAt.
func (inv *Inventory) DecideHold(roomType, hold string, stays []Stay, expiresAt time.Time, res string) (Event, error) {
	if err := inv.requireExists(roomType); err != nil {
		return Event{}, err
	}
	if _, ok := inv.Holds[hold]; ok {
		return Event{}, Conflict(KindHold, hold, nil, "hold %s exists", hold)
	}
	if err := inv.checkRestrictions(roomType, stays); err != nil {
		return Event{}, err
	}
	if err := inv.checkFit(roomType, demand(stays), nil); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventHeld, Hold: hold, Stays: stays, ExpiresAt: expiresAt, Reservation: res}, nil
}

// DecideReleaseHold gives a hold's rooms back; ok is false for an unknown
// (or already released) hold.
func (inv *Inventory) DecideReleaseHold(hold, reason string) (e Event, ok bool) {
	if _, held := inv.Holds[hold]; !held {
		return Event{}, false
	}
	return Event{Kind: EventHoldReleased, Hold: hold, Reason: reason}, true
}

// DecideConvertHold turns a hold into the reservation's rooms, replacing what
// the reservation had here. It cannot fail for lack of rooms.
func (inv *Inventory) DecideConvertHold(roomType, hold, res string, stays []Stay) (Event, error) {
	h, ok := inv.Holds[hold]
	if !ok {
		return Event{}, Conflict(KindHold, hold, nil, "hold %s has expired or was released", hold)
	}
	if stays != nil && !SameStays(h.Stays, stays) {
		return Event{}, Conflict(KindHold, hold, map[string]any{"room_type": roomType}, "stays of %s differ from hold %s", roomType, hold)
	}
	return Event{Kind: EventHoldConverted, Hold: hold, Reservation: res}, nil
}

// ExpiredHolds lists the holds whose time has come, oldest first.
func (inv *Inventory) ExpiredHolds(now time.Time) []string {
	var out []string
	for id, h := range inv.Holds {
		if !h.ExpiresAt.After(now) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := inv.Holds[out[i]].ExpiresAt, inv.Holds[out[j]].ExpiresAt
		return a.Before(b) || (a.Equal(b) && out[i] < out[j])
	})
	return out
}

// NextExpiry is the earliest hold expiry, or zero when nothing is held.
func (inv *Inventory) NextExpiry() time.Time {
	var next time.Time
	for _, h := range inv.Holds {
		if next.IsZero() || h.ExpiresAt.Before(next) {
			next = h.ExpiresAt
		}
	}
	return next
}

// DecideRoomType sets the room type's name and defaults. Lowering rooms below
// what is taken on a night that follows the default is a conflict.
func (inv *Inventory) DecideRoomType(roomType, name string, rooms int32, price int64) (Event, error) {
	var short []string
	for _, d := range sortedNightDates(inv.Nights) {
		n := inv.Nights[d]
		if !n.HasTotal && n.Booked+n.Held > rooms {
			short = append(short, d.String())
		}
	}
	if len(short) > 0 {
		return Event{}, Conflict(KindRoomType, roomType, map[string]any{"room_type": roomType, "nights": short},
			"rooms %d is below what is booked or held on %d night(s)", rooms, len(short))
	}
	return Event{Kind: EventRoomTypeSet, Name: name, Rooms: rooms, Price: price}, nil
}

// DecideInventory applies ARI updates of this room type, all or nothing, and
// returns how many nights they touch.
func (inv *Inventory) DecideInventory(roomType string, updates []InventoryUpdate) (Event, int, error) {
	if err := inv.requireExists(roomType); err != nil {
		return Event{}, 0, err
	}
	nights := 0
	var short []string
	for _, u := range updates {
		nights += int(u.To - u.From)
		if u.Total == nil {
			continue
		}
		for d := u.From; d < u.To; d++ {
			v := inv.View(d)
			if v.Booked+v.Held > *u.Total {
				short = append(short, d.String())
			}
		}
	}
	if len(short) > 0 {
		return Event{}, 0, Conflict(KindRoomType, roomType, map[string]any{"room_type": roomType, "nights": short},
			"total is below what is booked or held on %d night(s) of %s", len(short), roomType)
	}
	return Event{Kind: EventInventorySet, Updates: updates}, nights, nil
}

func sortedNightDates(m map[Date]*Night) []Date {
	ds := make([]Date, 0, len(m))
	for d := range m {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}
