-- Swap a finished price sync in (loaded after the kernel's fence.lua, then price_event.lua: only the sync lease's
-- holder may). KEYS: lease, scratch hash, scratch set of the SKUs whose synced price differed from the one held
-- when the sync read it, live hash, meta, outbox stream, set of SKUs events wrote since the last swap.
-- ARGV: owner:token, synced_at ms, count, now (RFC 3339). Returns the number of price.applied events written.
--
-- Only the SKUs that can differ are compared (those two sets: the sync compared the rest as it read them, and
-- only events write prices between swaps), so the script's cost follows the changes, not the catalogue. For
-- each: a price an event made newer than the synced one is kept (a sync never moves a price back to an older
-- as_of; at an equal as_of the sync's wins); changed figures, or a SKU new to a projection that had been synced
-- before, are a price.applied. The first sync fills an empty projection and publishes nothing: no answer anyone
-- holds was made from it.
local SCRATCH, DIFFERED, LIVE, META, OUTBOX, TOUCHED = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local NOW_ISO = ARGV[4]
local applied = 0

local function settle(sku, synced_before)
  local raw = redis.call('HGET', SCRATCH, sku)
  if not raw then return end  -- gone from the ERP: the rename drops it
  local old = redis.call('HGET', LIVE, sku)
  if old == raw then return end
  local new = cjson.decode(raw)
  local held = price_decode(old)
  if held and held.as_of and held.as_of > new.as_of then
    redis.call('HSET', SCRATCH, sku, old)
  elseif held then
    if price_differs(held, new) then
      price_applied(OUTBOX, NOW_ISO, new, held)
      applied = applied + 1
    end
  elseif synced_before then
    price_applied(OUTBOX, NOW_ISO, new, nil)
    applied = applied + 1
  end
end

if tonumber(ARGV[3]) > 0 then
  local synced_before = redis.call('HEXISTS', META, 'synced_at') == 1
  -- Before the first swap only events wrote prices: a SKU not among theirs has nothing to compare with.
  local skus
  if synced_before then skus = redis.call('SUNION', DIFFERED, TOUCHED) else skus = redis.call('SMEMBERS', TOUCHED) end
  for _, sku in ipairs(skus) do settle(sku, synced_before) end
  redis.call('RENAME', SCRATCH, LIVE)
else
  redis.call('DEL', LIVE)
end
redis.call('DEL', DIFFERED, TOUCHED)
redis.call('HSET', META, 'synced_at', ARGV[2], 'count', ARGV[3])
redis.call('HDEL', META, 'error', 'error_at')
local event_at = redis.call('HGET', META, 'event_at')
if event_at and tonumber(event_at) >= tonumber(ARGV[2]) then
  redis.call('HSET', META, 'requested', ARGV[2])
end
return applied
