-- A property's booking window: how far ahead it sells, and until what local
-- time last night can still be booked (late check-in). Existing properties
-- get the defaults. The checks repeat booking.Property.Validate, so a row
-- written past it is refused as data (SQLSTATE 23514), never stored.

-- +goose Up
ALTER TABLE properties
    ADD COLUMN booking_horizon_days integer NOT NULL DEFAULT 730
        CONSTRAINT properties_booking_horizon_days_check CHECK (booking_horizon_days BETWEEN 1 AND 3650),
    ADD COLUMN late_checkin_until text NOT NULL DEFAULT '12:00'
        CONSTRAINT properties_late_checkin_until_check CHECK (late_checkin_until ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$');

-- +goose Down
ALTER TABLE properties DROP COLUMN late_checkin_until, DROP COLUMN booking_horizon_days;
