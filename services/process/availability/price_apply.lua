-- Apply one price event if it is newer than the price held. KEYS: live hash, meta.
-- ARGV: sku, price JSON, as_of (RFC 3339, as the JSON has it), now ms. RFC 3339 UTC strings of one format order
-- as their instants do.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, held = pcall(cjson.decode, current)
  if ok and held['as_of'] and held['as_of'] >= ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'event_at', ARGV[4])
return 1
