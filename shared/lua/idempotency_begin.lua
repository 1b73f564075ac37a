-- Claim an Idempotency-Key record, or say what it holds.
-- KEYS[1] the record. ARGV: fingerprint, new resource id, now ms, lease-until ms, ttl ms, holder.
-- Returns {outcome, resource id, ...}: new | takeover (the first attempt's lease lapsed: resume it) |
-- inflight (+ lease-until) | done (+ status, location, media, body) | mismatch.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'inflight', 'id', ARGV[2], 'until', ARGV[4], 'holder', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'new', ARGV[2]}
end
local t = {}
for i = 1, #h, 2 do t[h[i]] = h[i + 1] end
if t['fp'] ~= ARGV[1] then return {'mismatch', t['id']} end
if t['state'] == 'done' then return {'done', t['id'], t['status'], t['location'], t['media'], t['body']} end
if tonumber(t['until']) > tonumber(ARGV[3]) then return {'inflight', t['id'], t['until']} end
redis.call('HSET', KEYS[1], 'until', ARGV[4], 'holder', ARGV[6])
return {'takeover', t['id']}
