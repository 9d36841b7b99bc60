package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis is the engine of teams that put the counters in Redis: one atomic
// Lua script per booking checks every night, increments the booked counts
// (a check-and-decrement of the free rooms) and stores the reservation
// record, its place in the property's list and the idempotency key.
//
// It is only as durable as Redis is configured: a fair comparison with a
// database that fsyncs every commit runs Redis with
// `--appendonly yes --appendfsync always`.
//
// Keys, under the prefix P:
//
//	P:prop:{property}              the property (JSON)
//	P:rt:{property}                hash room type → room type (JSON)
//	P:rooms:{property}             hash room type → rooms a night
//	P:booked:{property}:{rt}       hash night (days since 1970) → rooms booked
//	P:res:{id}                     the reservation (JSON)
//	P:list:{property}              list of reservation ids in creation order
//	P:idem:{key}                   "request-hash reservation-id", for 72 h
type Redis struct {
	rdb    *redis.Client
	prefix string
}

// OpenRedis connects to redisURL (redis://host:port/db); prefix names
// every key ("baseline" when empty).
func OpenRedis(ctx context.Context, redisURL, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("parse the redis URL: %w", err)
	}
	if prefix == "" {
		prefix = "baseline"
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", opt.Addr, err)
	}
	return &Redis{rdb: rdb, prefix: prefix}, nil
}

// Close closes the client.
func (e *Redis) Close() { _ = e.rdb.Close() }

func (e *Redis) key(parts ...string) string { return e.prefix + ":" + strings.Join(parts, ":") }

// PutProperty implements Engine.
func (e *Redis) PutProperty(ctx context.Context, p Property) (bool, error) {
	js, _ := json.Marshal(p)
	err := e.rdb.SetArgs(ctx, e.key("prop", p.ID), js, redis.SetArgs{Get: true}).Err()
	if errors.Is(err, redis.Nil) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("put property: %w", err)
	}
	return false, nil
}

func (e *Redis) property(ctx context.Context, id string) (Property, error) {
	var p Property
	js, err := e.rdb.Get(ctx, e.key("prop", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return p, notFound("property %s", id)
	}
	if err != nil {
		return p, fmt.Errorf("read property: %w", err)
	}
	if err := json.Unmarshal(js, &p); err != nil {
		return p, fmt.Errorf("decode property: %w", err)
	}
	return p, nil
}

// putRoomType: KEYS property, rooms hash, room types hash, booked hash;
// ARGV room type, rooms, room type JSON.
var putRoomType = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not_found' end
for _, v in ipairs(redis.call('HVALS', KEYS[4])) do
  if tonumber(v) > tonumber(ARGV[2]) then return 'conflict' end
end
local created = redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if created == 1 then return 'created' end
return 'updated'
`)

// PutRoomType implements Engine.
func (e *Redis) PutRoomType(ctx context.Context, property string, rt RoomType) (bool, error) {
	js, _ := json.Marshal(rt)
	out, err := putRoomType.Run(ctx, e.rdb, []string{e.key("prop", property), e.key("rooms", property),
		e.key("rt", property), e.key("booked", property, rt.ID)}, rt.ID, rt.Rooms, js).Text()
	if err != nil {
		return false, fmt.Errorf("put room type: %w", err)
	}
	switch out {
	case "not_found":
		return false, notFound("property %s", property)
	case "conflict":
		return false, &Error{Code: "conflict", Message: fmt.Sprintf("some night has more rooms booked than %d", rt.Rooms)}
	}
	return out == "created", nil
}

// RoomTypes implements Engine.
func (e *Redis) RoomTypes(ctx context.Context, property string) ([]RoomType, error) {
	if _, err := e.property(ctx, property); err != nil {
		return nil, err
	}
	m, err := e.rdb.HGetAll(ctx, e.key("rt", property)).Result()
	if err != nil {
		return nil, fmt.Errorf("list room types: %w", err)
	}
	out := make([]RoomType, 0, len(m))
	for _, js := range m {
		var rt RoomType
		if err := json.Unmarshal([]byte(js), &rt); err != nil {
			return nil, fmt.Errorf("decode room type: %w", err)
		}
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b RoomType) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// book is the booking, atomically.
// KEYS: idempotency key, rooms hash, reservation, list, then one booked
// hash per need. ARGV: "1" when the idempotency key is used, its value,
// the reservation JSON, its id, then room type, night, quantity per need.
var book = redis.NewScript(`
if ARGV[1] == '1' then
  local prev = redis.call('GET', KEYS[1])
  if prev then return {'replay', prev} end
end
local n = (#ARGV - 4) / 3
local short, shortRT = {}, nil
for i = 0, n - 1 do
  local rt, night, q = ARGV[5 + 3 * i], ARGV[6 + 3 * i], tonumber(ARGV[7 + 3 * i])
  local total = redis.call('HGET', KEYS[2], rt)
  if not total then return {'not_found', rt} end
  local booked = tonumber(redis.call('HGET', KEYS[5 + i], night) or '0')
  if booked + q > tonumber(total) and (shortRT == nil or shortRT == rt) then
    shortRT = rt
    table.insert(short, night)
  end
end
if shortRT then return {'sold_out', shortRT, unpack(short)} end
for i = 0, n - 1 do
  redis.call('HINCRBY', KEYS[5 + i], ARGV[6 + 3 * i], ARGV[7 + 3 * i])
end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
if ARGV[1] == '1' then redis.call('SET', KEYS[1], ARGV[2], 'EX', 259200) end
return {'ok'}
`)

// Book implements Engine.
func (e *Redis) Book(ctx context.Context, b NewBooking) (Reservation, bool, error) {
	r := b.R
	p, err := e.property(ctx, r.Property)
	if err != nil {
		return r, false, err
	}
	r.Currency = p.Currency
	var rtIDs []string
	for _, nd := range b.Needs {
		if !slices.Contains(rtIDs, nd.RoomType) {
			rtIDs = append(rtIDs, nd.RoomType)
		}
	}
	vals, err := e.rdb.HMGet(ctx, e.key("rt", r.Property), rtIDs...).Result()
	if err != nil {
		return r, false, fmt.Errorf("read room types: %w", err)
	}
	prices := map[string]int64{}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return r, false, notFound("room type %s/%s", r.Property, rtIDs[i])
		}
		var rt RoomType
		if err := json.Unmarshal([]byte(s), &rt); err != nil {
			return r, false, fmt.Errorf("decode room type: %w", err)
		}
		prices[rt.ID] = rt.Price
	}
	for _, nd := range b.Needs {
		r.TotalPrice += prices[nd.RoomType] * int64(nd.Quantity)
	}
	js, _ := json.Marshal(r)

	useKey, idemKey := "0", e.key("idem", "-")
	if b.Key != "" {
		useKey, idemKey = "1", e.key("idem", b.Key)
	}
	keys := []string{idemKey, e.key("rooms", r.Property), e.key("res", r.ID), e.key("list", r.Property)}
	args := []any{useKey, b.Hash + " " + r.ID, js, r.ID}
	for _, nd := range b.Needs {
		keys = append(keys, e.key("booked", r.Property, nd.RoomType))
		args = append(args, nd.RoomType, int32(nd.Night), nd.Quantity)
	}
	out, err := book.Run(ctx, e.rdb, keys, args...).StringSlice()
	if err != nil {
		return r, false, fmt.Errorf("book: %w", err)
	}
	switch out[0] {
	case "ok":
		return r, false, nil
	case "replay":
		hash, id, _ := strings.Cut(out[1], " ")
		if hash != b.Hash {
			return r, false, keyReused()
		}
		first, err := e.Reservation(ctx, id)
		return first, true, err
	case "not_found":
		return r, false, notFound("room type %s/%s", r.Property, out[1])
	case "sold_out":
		nights := make([]Date, 0, len(out)-2)
		for _, s := range out[2:] {
			d, _ := strconv.Atoi(s)
			nights = append(nights, Date(d))
		}
		return r, false, soldOut(out[1], nights)
	}
	return r, false, fmt.Errorf("book: unexpected answer %q", out)
}

// Reservation implements Engine.
func (e *Redis) Reservation(ctx context.Context, id string) (Reservation, error) {
	var r Reservation
	js, err := e.rdb.Get(ctx, e.key("res", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return r, notFound("reservation %s", id)
	}
	if err != nil {
		return r, fmt.Errorf("read reservation: %w", err)
	}
	if err := json.Unmarshal(js, &r); err != nil {
		return r, fmt.Errorf("decode reservation: %w", err)
	}
	return r, nil
}

// Reservations implements Engine; the cursor is an offset in the list.
func (e *Redis) Reservations(ctx context.Context, property, cursor string, limit int) ([]Reservation, string, error) {
	off := int64(0)
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || v < 0 {
			return nil, "", invalid("cursor", "not a cursor of this listing")
		}
		off = v
	}
	if _, err := e.property(ctx, property); err != nil {
		return nil, "", err
	}
	ids, err := e.rdb.LRange(ctx, e.key("list", property), off, off+int64(limit)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	next := ""
	if len(ids) > limit {
		ids, next = ids[:limit], strconv.FormatInt(off+int64(limit), 10)
	}
	if len(ids) == 0 {
		return nil, "", nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = e.key("res", id)
	}
	vals, err := e.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read reservations: %w", err)
	}
	out := make([]Reservation, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, "", fmt.Errorf("reservation %s is listed but missing", ids[i])
		}
		var r Reservation
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return nil, "", fmt.Errorf("decode reservation: %w", err)
		}
		out = append(out, r)
	}
	return out, next, nil
}

// Availability implements Engine.
func (e *Redis) Availability(ctx context.Context, property string, from, to Date, roomType string) ([]RoomTypeNights, error) {
	rts, err := e.RoomTypes(ctx, property)
	if err != nil {
		return nil, err
	}
	if roomType != "" {
		rts = slices.DeleteFunc(rts, func(rt RoomType) bool { return rt.ID != roomType })
		if len(rts) == 0 {
			return nil, notFound("room type %s/%s", property, roomType)
		}
	}
	fields := make([]string, 0, to-from)
	for d := from; d < to; d++ {
		fields = append(fields, strconv.Itoa(int(d)))
	}
	ids := make([]string, len(rts))
	for i, rt := range rts {
		ids[i] = rt.ID
	}
	pipe := e.rdb.Pipeline()
	rooms := pipe.HMGet(ctx, e.key("rooms", property), ids...)
	booked := make([]*redis.SliceCmd, len(rts))
	for i, rt := range rts {
		booked[i] = pipe.HMGet(ctx, e.key("booked", property, rt.ID), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read nights: %w", err)
	}
	out := make([]RoomTypeNights, 0, len(rts))
	for i, rt := range rts {
		total := atoi(rooms.Val()[i])
		rn := RoomTypeNights{RoomType: rt.ID, Nights: make([]Night, 0, len(fields))}
		for j, v := range booked[i].Val() {
			rn.Nights = append(rn.Nights, night(from+Date(j), total, atoi(v), rt.Price))
		}
		out = append(out, rn)
	}
	return out, nil
}

// atoi reads a Redis reply value; absent is 0.
func atoi(v any) int {
	s, _ := v.(string)
	n, _ := strconv.Atoi(s)
	return n
}
