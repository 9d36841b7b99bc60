-- A property's booking window: how far ahead it sells, and until what local
-- time last night can still be booked (late check-in). Existing properties
-- get the defaults. The checks repeat booking.Property.Validate, so a row
-- written past it is refused as data (SQLITE_CONSTRAINT_CHECK), never stored.

-- +goose Up
ALTER TABLE properties ADD COLUMN booking_horizon_days INTEGER NOT NULL DEFAULT 730
    CHECK (booking_horizon_days BETWEEN 1 AND 3650);
ALTER TABLE properties ADD COLUMN late_checkin_until TEXT NOT NULL DEFAULT '12:00'
    CHECK (length(late_checkin_until) = 5 AND late_checkin_until GLOB '[0-2][0-9]:[0-5][0-9]' AND late_checkin_until <= '23:59');

-- +goose Down
ALTER TABLE properties DROP COLUMN late_checkin_until;
ALTER TABLE properties DROP COLUMN booking_horizon_days;
