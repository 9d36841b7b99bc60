package booking

import "time"

// AvailabilityDelta is one committed change of a room type's availability:
// the nights it changed, with their counts after it. The inventory actor
// makes one per commit; the live bus carries it to the dashboards as is.
type AvailabilityDelta struct {
	Tenant   string `json:"tenant"`
	Property string `json:"property"`
	RoomType string `json:"room_type"`
	// PrevSeq is the room type's seq before the change, Seq after it.
	PrevSeq int64 `json:"prev_seq"`
	Seq     int64 `json:"seq"`
	// Nights are the changed nights' latest counts, sorted by date.
	Nights []NightView `json:"nights,omitempty"`
	// AllNights: the room type's defaults changed, so every night not in
	// Nights may have changed too; a receiver re-reads its range.
	AllNights bool `json:"all_nights,omitempty"`
	// At is when the (first) change committed, for commit→send latency.
	At time.Time `json:"at"`
}

// Key names the room type of d: tenant/property/room_type.
func (d *AvailabilityDelta) Key() string { return d.Tenant + "/" + d.Property + "/" + d.RoomType }
