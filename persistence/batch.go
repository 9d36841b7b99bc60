package persistence

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/staylock/staylock/booking"
)

// reservationRow is a reservation ready to store: JSON columns encoded and
// times normalised.
type reservationRow struct {
	booking.Reservation
	staysJSON string
	guestJSON string
	arrival   booking.Date
}

func newReservationRow(r booking.Reservation, now time.Time) (reservationRow, error) {
	if r.Tenant == "" || r.ID == "" {
		return reservationRow{}, errors.New("reservation without tenant or id")
	}
	stays, err := json.Marshal(r.Stays)
	if err != nil {
		return reservationRow{}, fmt.Errorf("encode stays of reservation %s: %w: %w", r.ID, ErrInvalidData, err)
	}
	guest, err := json.Marshal(r.Guest)
	if err != nil {
		return reservationRow{}, fmt.Errorf("encode guest of reservation %s: %w: %w", r.ID, ErrInvalidData, err)
	}
	r.CreatedAt = StoredTime(orNow(r.CreatedAt, now))
	r.UpdatedAt = StoredTime(orNow(r.UpdatedAt, now))
	return reservationRow{Reservation: r, staysJSON: string(stays), guestJSON: string(guest), arrival: r.Arrival()}, nil
}

// decodeReservation fills the JSON columns of a stored reservation.
func decodeReservation(r *booking.Reservation, stays, guest []byte) error {
	if err := json.Unmarshal(stays, &r.Stays); err != nil {
		return fmt.Errorf("decode stays of reservation %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(guest, &r.Guest); err != nil {
		return fmt.Errorf("decode guest of reservation %s: %w", r.ID, err)
	}
	return nil
}

// preparedBatch is a Batch checked and normalised the same way for both
// backends: times in UTC to the microsecond, rows deduplicated (the last
// write of a reservation or hold in a batch wins) and sorted by key so that
// concurrent batches lock rows in one order.
type preparedBatch struct {
	Batch
	at           time.Time
	lastSeq      int64 // seq of the last event; FirstSeq-1 when there are none
	fenced       bool  // whether the journal must end at FirstSeq-1
	roomType     *booking.RoomType
	reservations []reservationRow
	putHolds     []HoldRow
	deleteHolds  []HoldRow
	idempotency  []IdempotencyRecord
	jobs         []JobRow // distinct by (kind, key)
	pgJobs       []pgJob  // jobs encoded as pgJobsSQL takes them
}

// CommitEach is CommitBatches made of one CommitBatch per batch, in
// order: for a store that cannot join batches, or a wrapper that changes
// how each one commits.
func CommitEach(ctx context.Context, commit func(context.Context, Batch) error, bs []Batch) []error {
	errs := make([]error, len(bs))
	for i, b := range bs {
		errs[i] = commit(ctx, b)
	}
	return errs
}

// prepareBatches prepares bs for one transaction: it returns the batches
// that passed, with their indexes in bs, and sets errs[i] of the others.
func prepareBatches(bs []Batch, now time.Time, errs []error) (ps []*preparedBatch, at []int) {
	for i, b := range bs {
		p, err := prepareBatch(b, now)
		if err != nil {
			errs[i] = err
			continue
		}
		ps, at = append(ps, p), append(at, i)
	}
	return ps, at
}

func prepareBatch(b Batch, now time.Time) (*preparedBatch, error) {
	if b.ActorID == "" {
		return nil, errors.New("commit batch: empty actor id")
	}
	if b.FirstSeq < 0 || (len(b.Events) > 0 && b.FirstSeq < 1) {
		return nil, fmt.Errorf("commit batch %s: first seq %d must be at least 1", b.ActorID, b.FirstSeq)
	}
	p := &preparedBatch{Batch: b, at: StoredTime(orNow(b.At, now))}
	p.lastSeq = b.FirstSeq + int64(len(b.Events)) - 1
	p.fenced = b.FirstSeq > 0
	if b.Snapshot != nil && !p.fenced {
		return nil, fmt.Errorf("commit batch %s: a snapshot needs a first seq", b.ActorID)
	}
	for i, e := range b.Events {
		if e == nil {
			return nil, fmt.Errorf("commit batch %s: event %d is nil", b.ActorID, i)
		}
	}
	if b.RoomType != nil {
		rt := *b.RoomType
		if rt.Tenant == "" || rt.Property == "" || rt.ID == "" {
			return nil, fmt.Errorf("commit batch %s: room type without tenant, property or id", b.ActorID)
		}
		rt.CreatedAt = StoredTime(orNow(rt.CreatedAt, p.at))
		rt.UpdatedAt = StoredTime(orNow(rt.UpdatedAt, p.at))
		p.roomType = &rt
	}

	if err := p.prepareJobs(); err != nil {
		return nil, fmt.Errorf("commit batch %s: %w", b.ActorID, err)
	}

	byID := map[[2]string]int{}
	for _, r := range b.Reservations {
		row, err := newReservationRow(r, p.at)
		if err != nil {
			return nil, fmt.Errorf("commit batch %s: %w", b.ActorID, err)
		}
		k := [2]string{r.Tenant, r.ID}
		if i, ok := byID[k]; ok {
			p.reservations[i] = row
			continue
		}
		byID[k] = len(p.reservations)
		p.reservations = append(p.reservations, row)
	}
	slices.SortFunc(p.reservations, func(a, b reservationRow) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID))
	})

	var err error
	if p.putHolds, err = prepareHolds(b.ActorID, b.PutHolds); err != nil {
		return nil, err
	}
	if p.deleteHolds, err = prepareHolds(b.ActorID, b.DeleteHolds); err != nil {
		return nil, err
	}

	seen := map[[2]string]bool{}
	for _, r := range b.Idempotency {
		r, err := prepareCompletion(r, p.at)
		if err != nil {
			return nil, fmt.Errorf("commit batch %s: %w", b.ActorID, err)
		}
		k := [2]string{r.Tenant, r.Key}
		if seen[k] {
			// The second completion of one key in one batch finds the first
			// one completed.
			return nil, fmt.Errorf("commit batch %s: key %q completed twice: %w", b.ActorID, r.Key, ErrIdempotencyTaken)
		}
		seen[k] = true
		p.idempotency = append(p.idempotency, r)
	}
	slices.SortFunc(p.idempotency, func(a, b IdempotencyRecord) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Key, b.Key))
	})
	return p, nil
}

func holdKey(h HoldRow) [3]string { return [3]string{h.Tenant, h.ID, h.RoomType} }

func prepareHolds(actor string, hs []HoldRow) ([]HoldRow, error) {
	var out []HoldRow
	idx := map[[3]string]int{}
	for _, h := range hs {
		if h.Tenant == "" || h.ID == "" || h.RoomType == "" {
			return nil, fmt.Errorf("commit batch %s: hold row without tenant, id or room type", actor)
		}
		h.ExpiresAt = StoredTime(h.ExpiresAt)
		if i, ok := idx[holdKey(h)]; ok {
			out[i] = h
			continue
		}
		idx[holdKey(h)] = len(out)
		out = append(out, h)
	}
	slices.SortFunc(out, compareHolds)
	return out, nil
}

func compareHolds(a, b HoldRow) int {
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID), cmp.Compare(a.RoomType, b.RoomType))
}

// prepareClaim checks and normalises a record for ClaimIdempotency.
func prepareClaim(r IdempotencyRecord, now time.Time) (IdempotencyRecord, error) {
	if err := checkIdempotency(r); err != nil {
		return r, err
	}
	r.Status, r.Body = 0, nil
	r.CreatedAt = StoredTime(orNow(r.CreatedAt, now))
	r.ExpiresAt = StoredTime(r.ExpiresAt)
	return r, nil
}

// prepareCompletion checks and normalises a completed record.
func prepareCompletion(r IdempotencyRecord, now time.Time) (IdempotencyRecord, error) {
	if err := checkIdempotency(r); err != nil {
		return r, err
	}
	if r.Status == 0 {
		return r, fmt.Errorf("idempotency key %q: a completed record needs a status", r.Key)
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	r.CreatedAt = StoredTime(orNow(r.CreatedAt, now))
	r.ExpiresAt = StoredTime(r.ExpiresAt)
	return r, nil
}

func checkIdempotency(r IdempotencyRecord) error {
	if r.Tenant == "" || r.Key == "" {
		return errors.New("idempotency record without tenant or key")
	}
	if r.ExpiresAt.IsZero() {
		return fmt.Errorf("idempotency key %q: expires_at is required", r.Key)
	}
	return nil
}

// checkContiguous refuses a journal tail with a gap: the events after the
// snapshot must be seq SnapshotSeq+1, +2, … (the fence guarantees it; a gap
// means a damaged journal, which an actor must not replay).
func checkContiguous(actorID string, st ActorState) error {
	for i, e := range st.Events {
		if want := st.SnapshotSeq + int64(i) + 1; e.Seq != want {
			return fmt.Errorf("load actor %s: journal has seq %d where %d was expected", actorID, e.Seq, want)
		}
	}
	return nil
}

// prepareJobs checks the batch's jobs and drops repeats of a (kind, key).
func (p *preparedBatch) prepareJobs() error {
	if len(p.Jobs) == 0 {
		return nil
	}
	seen := make(map[[2]string]bool, len(p.Jobs))
	for _, j := range p.Jobs {
		if j.Kind == "" || j.Key == "" {
			return fmt.Errorf("job without kind or key: %+v", j)
		}
		k := [2]string{j.Kind, j.Key}
		if seen[k] {
			continue
		}
		seen[k] = true
		pj, err := newPGJob(j)
		if err != nil {
			return err
		}
		p.jobs, p.pgJobs = append(p.jobs, j), append(p.pgJobs, pj)
	}
	return nil
}
