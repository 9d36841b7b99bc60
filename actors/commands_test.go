package actors_test

import (
	"time"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
)

// Commands as the coordinator sends them, for the actor's tests.

func putRoomType(name string, rooms int32, price int64) *actors.Command {
	return &actors.Command{Op: &actors.Command_PutRoomType{PutRoomType: &actors.PutRoomType{Name: name, Rooms: rooms, Price: price}}}
}

func wake() *actors.Command { return &actors.Command{Op: &actors.Command_Wake{Wake: &actors.Wake{}}} }

func readNights(from booking.Date, nights int) *actors.Command {
	return &actors.Command{Op: &actors.Command_Availability{Availability: &actors.ReadAvailability{From: int32(from), To: int32(from) + int32(nights)}}}
}

func prune(before booking.Date) *actors.Command {
	return &actors.Command{Op: &actors.Command_Prune{Prune: &actors.Prune{Before: int32(before)}}}
}

func book(row booking.Reservation) *actors.Command {
	return &actors.Command{Op: &actors.Command_Book{Book: &actors.Book{Reservation: actors.ReservationMsg(row)}}}
}

func cancelOnPrimary(id string) *actors.Command {
	return &actors.Command{Op: &actors.Command_Cancel{Cancel: &actors.Cancel{ReservationId: id, WriteRow: true}}}
}

func hold(id string, expires time.Time, stays ...booking.Stay) *actors.Command {
	msgs := make([]*actors.Stay, len(stays))
	for i, s := range stays {
		msgs[i] = &actors.Stay{RoomType: s.RoomType, Arrival: int32(s.Arrival), Departure: int32(s.Departure), Quantity: s.Quantity}
	}
	return &actors.Command{Op: &actors.Command_Hold{Hold: &actors.Hold{HoldId: id, Stays: msgs, ExpiresAtUnixMs: expires.UnixMilli()}}}
}
