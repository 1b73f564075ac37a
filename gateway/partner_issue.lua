-- Issue a partner API key if the partner may have one more live key (gateway/partners.py), atomically, so that
-- two racing `omnigate partners rotate` runs can never leave three live keys.
-- KEYS[1] the partner's live keys (hash: key id -> plan), KEYS[2] every key id of the partner (set),
-- KEYS[3] the new key's record (hash).
-- ARGV[1] the new key id, ARGV[2] its plan ("" = the plan of the partner's one live key: a rotation),
-- ARGV[3] the most live keys a partner may have, ARGV[4..] the record's fields and values, without the plan.
-- Answers {"ok", plan} | {"too-many", live key ids...} | {"no-live"} | {"exists"} (the key id is taken).
local live = redis.call('HGETALL', KEYS[1])
local count = #live / 2
if count >= tonumber(ARGV[3]) then
  local ids = {'too-many'}
  for i = 1, #live, 2 do ids[#ids + 1] = live[i] end
  return ids
end
local plan = ARGV[2]
if plan == '' then
  if count == 0 then return {'no-live'} end
  plan = live[2]  -- below the maximum of two, a rotation has exactly one live key
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'exists'} end
local record = {}
for i = 4, #ARGV do record[#record + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], 'plan', plan, unpack(record))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], plan)
return {'ok', plan}
