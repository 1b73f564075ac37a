-- Apply one price.changed event if it is newer than the price held, with its price.applied if the figures
-- changed (price_event.lua is prepended). KEYS: live hash, meta, outbox stream, set of SKUs events wrote since
-- the last sync swap. ARGV: sku, price JSON, as_of (RFC 3339, as the JSON has it), now ms, now (RFC 3339).
-- RFC 3339 UTC strings of one format order as their instants do. Returns 1 if the price was written, else 0.
local LIVE, META, OUTBOX, TOUCHED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held = price_decode(redis.call('HGET', LIVE, ARGV[1]))
if held and held['as_of'] and held['as_of'] >= ARGV[3] then return 0 end
redis.call('HSET', LIVE, ARGV[1], ARGV[2])
redis.call('HSET', META, 'event_at', ARGV[4])
redis.call('SADD', TOUCHED, ARGV[1])
local new = cjson.decode(ARGV[2])
if held then
  if price_differs(held, new) then price_applied(OUTBOX, ARGV[5], new, held) end
elseif redis.call('HEXISTS', META, 'synced_at') == 1 then
  price_applied(OUTBOX, ARGV[5], new, nil)
end
return 1
