-- Moving-window rate limits for one request, several policies at once, in one round trip (gateway/ratelimit.py).
-- The algorithm and the layout are the `limits` library's moving window (its acquire_moving_window.lua and
-- moving_window.lua): per counter, a list of the timestamps of the units spent, newest first, at most `limit`
-- long. A request may spend `amount` units if the entry `limit - amount` places back is older than the window.
-- Here every policy of the request is checked first and the units are spent in all of them or in none (a refused
-- request spends nothing), then each counter's state is read for the RateLimit headers.
-- KEYS: one counter per policy; then, if ARGV[2] is 1, a guard: a hash whose `state` must be `active` (the caller's
-- partner API key, gateway/partners.py), else nothing is spent or read and the reply is {-1}; then optionally one
-- more key to read in the same round trip (a response cache entry kept in this Redis, gateway/cache.py).
-- ARGV[1]: now (epoch seconds, fractional); ARGV[2]: 1 with a guard, 0 without; then per policy: limit, window (s),
-- amount.  Returns {allowed (1/0), then per policy: refused (1/0), units in the window, oldest entry ("" if none)},
-- then, with the key to read, this Redis's clock (ms) and the key's value (nil if none).

local now = tonumber(ARGV[1])
local guarded = tonumber(ARGV[2])
local n = (#ARGV - 2) / 3

if guarded == 1 and redis.call('hget', KEYS[n + 1], 'state') ~= 'active' then
    return {-1}
end

local function spec(i)
    local base = 3 + (i - 1) * 3
    return tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
end

-- moving_window.lua: the index of the oldest entry still inside the window (binary search), or nil.
local function oldest_index(key, len, target)
    local low, high, result = 0, len - 1, nil
    while low <= high do
        local mid = math.floor((low + high) / 2)
        local val = tonumber(redis.call('lindex', key, mid))
        if val and val >= target then
            result = mid
            low = mid + 1
        else
            high = mid - 1
        end
    end
    return result
end

local refused = {}
local allowed = 1
for i = 1, n do
    local limit, window, amount = spec(i)
    local entry = redis.call('lindex', KEYS[i], limit - amount)
    if amount > limit or (entry and tonumber(entry) >= now - window) then
        refused[i] = 1
        allowed = 0
    else
        refused[i] = 0
    end
end

if allowed == 1 then
    for i = 1, n do
        local limit, window, amount = spec(i)
        local entries = {}
        for j = 1, amount do
            entries[j] = ARGV[1]
        end
        for j = 1, #entries, 5000 do
            redis.call('lpush', KEYS[i], unpack(entries, j, math.min(j + 4999, #entries)))
        end
        redis.call('ltrim', KEYS[i], 0, limit - 1)
        redis.call('expire', KEYS[i], window)
    end
end

local out = {allowed}
for i = 1, n do
    local limit, window, amount = spec(i)
    local index = oldest_index(KEYS[i], limit, now - window)
    if index then
        out[#out + 1] = refused[i]
        out[#out + 1] = index + 1
        out[#out + 1] = redis.call('lindex', KEYS[i], index)
    else
        out[#out + 1] = refused[i]
        out[#out + 1] = 0
        out[#out + 1] = ""
    end
end
if #KEYS > n + guarded then
    local clock = redis.call('time')
    out[#out + 1] = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    out[#out + 1] = redis.call('get', KEYS[n + guarded + 1])
end
return out
