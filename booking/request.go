package booking

import "errors"

// The engine's requests and results as the API hands them to it and reads
// them back (the gateway's Engine speaks these, whatever carries them to
// the actors).

// NewReservation is a validated reservation request.
type NewReservation struct {
	Tenant      string
	Property    string
	Currency    string
	Stays       []Stay
	Guest       Guest
	Channel     string
	ExternalRef string
	// HoldID, when set, confirms that hold: the stays must be the hold's.
	HoldID string
}

// RoomTypeAvailability is one room type's nights, as of its seq.
type RoomTypeAvailability struct {
	RoomType string      `json:"room_type"`
	Seq      int64       `json:"seq"`
	Nights   []NightView `json:"nights"`
}

// InventoryResult is the answer to an ARI update: how many nights it
// changed (the same body whether one room type's actor stores it with the
// key or the gateway writes it).
type InventoryResult struct {
	UpdatedNights int `json:"updated_nights"`
}

// Idempotency is a change's Idempotency-Key as the engine keeps it: the
// actor that commits the change stores the key's record (the request's
// hash, and Status with the response body) in the same transaction.
type Idempotency struct {
	Key         string
	RequestHash string
	// Status is the HTTP status the response is stored with on success.
	Status int
}

// ErrMaybeDone is the outcome of a change whose actor did not answer in
// time: it may or may not have been made. Retrying with the same
// idempotency key is safe.
var ErrMaybeDone = errors.New("no answer in time: the change may or may not have been made; retry with the same Idempotency-Key")
