package actors

import (
	"time"

	"github.com/staylock/staylock/booking"
)

// The mapping between the booking types and the actor's protobuf messages.
// Each direction is one function per type, so that a field added to a
// booking type has one place to be carried across.

func stayMsgs(stays []booking.Stay) []*Stay {
	out := make([]*Stay, len(stays))
	for i, s := range stays {
		out[i] = &Stay{RoomType: s.RoomType, Arrival: int32(s.Arrival), Departure: int32(s.Departure), Quantity: s.Quantity}
	}
	return out
}

func staysOf(msgs []*Stay) []booking.Stay {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]booking.Stay, len(msgs))
	for i, s := range msgs {
		out[i] = booking.Stay{RoomType: s.GetRoomType(), Arrival: booking.Date(s.GetArrival()),
			Departure: booking.Date(s.GetDeparture()), Quantity: s.GetQuantity()}
	}
	return out
}

// unixNano is t in Unix nanoseconds, 0 for the zero time (whose Unix
// nanoseconds do not fit an int64).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// ReservationMsg is the message of a reservation row (its tenant and
// primary room type are the actor's, not carried).
func ReservationMsg(r booking.Reservation) *Reservation {
	return &Reservation{Id: r.ID, Property: r.Property, Status: r.Status, Stays: stayMsgs(r.Stays),
		Guest:   &Guest{Name: r.Guest.Name, Email: r.Guest.Email, Phone: r.Guest.Phone},
		Channel: r.Channel, ExternalRef: r.ExternalRef, TotalPrice: r.TotalPrice, Currency: r.Currency,
		Version: r.Version, CreatedAt: unixNano(r.CreatedAt), UpdatedAt: unixNano(r.UpdatedAt)}
}

// Domain is the reservation row of m, for tenant.
func (m *Reservation) Domain(tenant string) booking.Reservation {
	g := m.GetGuest()
	return booking.Reservation{Tenant: tenant, ID: m.GetId(), Property: m.GetProperty(), Status: m.GetStatus(),
		Stays: staysOf(m.GetStays()), Guest: booking.Guest{Name: g.GetName(), Email: g.GetEmail(), Phone: g.GetPhone()},
		Channel: m.GetChannel(), ExternalRef: m.GetExternalRef(), TotalPrice: m.GetTotalPrice(), Currency: m.GetCurrency(),
		Version: m.GetVersion(), CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt())}
}

func updateMsgs(ups []booking.InventoryUpdate) []*InventoryUpdate {
	out := make([]*InventoryUpdate, len(ups))
	for i, u := range ups {
		out[i] = &InventoryUpdate{RoomType: u.RoomType, From: int32(u.From), To: int32(u.To),
			Total: u.Total, Price: u.Price, StopSell: u.StopSell, MinStay: u.MinStay}
	}
	return out
}

func updatesOf(msgs []*InventoryUpdate) []booking.InventoryUpdate {
	out := make([]booking.InventoryUpdate, len(msgs))
	for i, u := range msgs {
		out[i] = booking.InventoryUpdate{RoomType: u.GetRoomType(), From: booking.Date(u.GetFrom()), To: booking.Date(u.GetTo()),
			Total: u.Total, Price: u.Price, StopSell: u.StopSell, MinStay: u.MinStay}
	}
	return out
}

func nightMsgs(nights []booking.NightView) []*Night {
	out := make([]*Night, len(nights))
	for i, n := range nights {
		out[i] = &Night{Date: int32(n.Date), Total: n.Total, Booked: n.Booked, Held: n.Held, Available: n.Available,
			Price: n.Price, StopSell: n.StopSell, MinStay: n.MinStay}
	}
	return out
}

// NightViews are the nights of an availability reply.
func (r *Reply) NightViews() []booking.NightView {
	out := make([]booking.NightView, len(r.GetNights()))
	for i, n := range r.GetNights() {
		out[i] = booking.NightView{Date: booking.Date(n.GetDate()), Total: n.GetTotal(), Booked: n.GetBooked(), Held: n.GetHeld(),
			Available: n.GetAvailable(), Price: n.GetPrice(), StopSell: n.GetStopSell(), MinStay: n.GetMinStay()}
	}
	return out
}

func roomTypeMsg(rt booking.RoomType) *RoomType {
	return &RoomType{Name: rt.Name, Rooms: rt.Rooms, Price: rt.Price, CreatedAt: unixNano(rt.CreatedAt), UpdatedAt: unixNano(rt.UpdatedAt)}
}

// Domain is the room type of m, with its identity.
func (m *RoomType) Domain(tenant, property, id string) booking.RoomType {
	return booking.RoomType{Tenant: tenant, Property: property, ID: id, Name: m.GetName(), Rooms: m.GetRooms(),
		Price: m.GetPrice(), CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt())}
}

// opName names a command's operation for logs and errors.
func opName(c *Command) string {
	switch c.GetOp().(type) {
	case *Command_PutRoomType:
		return "put_room_type"
	case *Command_SetInventory:
		return "set_inventory"
	case *Command_Book:
		return "book"
	case *Command_Modify:
		return "modify"
	case *Command_Cancel:
		return "cancel"
	case *Command_Hold:
		return "hold"
	case *Command_ReleaseHold:
		return "release_hold"
	case *Command_ConvertHold:
		return "convert_hold"
	case *Command_Availability:
		return "availability"
	case *Command_Wake:
		return "wake"
	case *Command_Prune:
		return "prune"
	}
	return "unknown"
}
