-- wrk script for scripts/wrk-hot.sh: each request books one night of the
-- room type dlx of property p1, on a random night of 2027, without an
-- Idempotency-Key. KEY comes from the environment.
local key = os.getenv("KEY")
local base = os.time({year = 2027, month = 1, day = 1, hour = 12})
math.randomseed(os.time())

request = function()
  local d = base + math.random(0, 363) * 86400
  local arrival = os.date("!%Y-%m-%d", d)
  local departure = os.date("!%Y-%m-%d", d + 86400)
  local body = string.format(
    '{"stays":[{"room_type":"dlx","arrival":"%s","departure":"%s","quantity":1}],"guest":{"name":"Ada"}}',
    arrival, departure)
  return wrk.format("POST", "/v1/properties/p1/reservations",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
