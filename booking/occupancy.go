package booking

// PropertyOccupancy is one property's occupancy over some nights: the
// counts of its room types summed per night (the daily report).
type PropertyOccupancy struct {
	Tenant, Property, Name string
	// Today is the property's local date when the report was made; Nights
	// start on it.
	Today     Date
	RoomTypes int
	Nights    []NightOccupancy
}

// NightOccupancy sums one night over a property's room types.
type NightOccupancy struct {
	Date                           Date
	Total, Booked, Held, Available int32
}

// Percent is the share of the night's rooms booked, rounded down (0 when
// the property sells no rooms that night).
func (n NightOccupancy) Percent() int32 {
	if n.Total <= 0 {
		return 0
	}
	return n.Booked * 100 / n.Total
}

// Add counts one room type's view of the night.
func (n *NightOccupancy) Add(v NightView) {
	n.Merge(NightOccupancy{Total: v.Total, Booked: v.Booked, Held: v.Held, Available: v.Available})
}

// Merge adds o's counts (another property's night, for a total).
func (n *NightOccupancy) Merge(o NightOccupancy) {
	n.Total += o.Total
	n.Booked += o.Booked
	n.Held += o.Held
	n.Available += o.Available
}
