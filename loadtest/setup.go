package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// setupConcurrency is how many setup requests run at once.
const setupConcurrency = 8

// setupWorld creates the layout through the API: properties
// <prefix>-p000…, and room types rt0000… spread over them round robin.
func setupWorld(ctx context.Context, e *Env, l Layout) error {
	for i := range l.Properties {
		id := fmt.Sprintf("%s-p%03d", e.cfg.Prefix, i)
		body := propertyBody{Name: fmt.Sprintf("Load test %s %d", e.cfg.Prefix, i), Timezone: "UTC", Currency: "EUR"}
		res := e.client.do(ctx, request{method: http.MethodPut, path: "/v1/properties/" + url.PathEscape(id), body: body})
		if !res.ok() {
			return fmt.Errorf("create property %s: %s", id, res.describe())
		}
	}
	rts := make([]roomType, l.RoomTypes)
	for j := range rts {
		rts[j] = roomType{property: fmt.Sprintf("%s-p%03d", e.cfg.Prefix, j%l.Properties), id: fmt.Sprintf("rt%04d", j), rooms: l.Rooms}
	}
	jobs := make(chan roomType)
	errs := make(chan error, setupConcurrency)
	var wg sync.WaitGroup
	for range setupConcurrency {
		wg.Go(func() {
			for rt := range jobs {
				if err := putRoomType(ctx, e, rt.property, rt.id, rt.rooms); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for _, rt := range rts {
		select {
		case jobs <- rt:
		case err = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	if err != nil {
		return err
	}
	for _, rt := range rts {
		e.world.add(rt)
	}
	return nil
}

// putRoomType creates (or updates) a room type with rooms a night.
func putRoomType(ctx context.Context, e *Env, property, id string, rooms int) error {
	body := roomTypeBody{Name: "Load test " + id, Rooms: rooms, Price: 10000}
	res := e.client.do(ctx, request{method: http.MethodPut,
		path: "/v1/properties/" + url.PathEscape(property) + "/room-types/" + url.PathEscape(id), body: body})
	if !res.ok() {
		return fmt.Errorf("create room type %s/%s: %s", property, id, res.describe())
	}
	return nil
}

// discoverWorld loads the room types of existing properties.
func discoverWorld(ctx context.Context, e *Env, properties []string) error {
	for _, p := range properties {
		var list struct {
			RoomTypes []roomTypeInfo `json:"room_types"`
		}
		if err := e.client.getJSON(ctx, "/v1/properties/"+url.PathEscape(p)+"/room-types", &list); err != nil {
			return fmt.Errorf("read the room types of %s: %w", p, err)
		}
		if len(list.RoomTypes) == 0 {
			return fmt.Errorf("%w: property %s has no room types", ErrConfig, p)
		}
		for _, rt := range list.RoomTypes {
			e.world.add(roomType{property: p, id: rt.ID, rooms: rt.Rooms})
		}
	}
	return nil
}

// windowStart is the first night bookings use: tomorrow (UTC), so that
// no property's "today" is already over.
func windowStart(now time.Time) date { return dateOf(now.UTC()) + 1 }
