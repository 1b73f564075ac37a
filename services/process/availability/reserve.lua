-- Check-and-reserve every line of one order, all or nothing, never below zero; idempotent by (order, line).
-- KEYS[4] the reservation set. ARGV[4] order id, ARGV[5] owner, ARGV[6] ttl ms, ARGV[7] line count, then
-- per line: line id, sku, location, qty; then '1' to allocate (held -> allocated in this same update), then
-- the placement attempt (a later attempt replaces a released or expired set of an earlier one).
-- Returns {outcome, detail, set fields}: created | added | replay | short | unknown | conflict | gone.
local key, order_id, owner, ttl = KEYS[4], ARGV[4], ARGV[5], tonumber(ARGV[6])
local allocate = ARGV[8 + tonumber(ARGV[7]) * 4] == '1'
local attempt = tonumber(ARGV[9 + tonumber(ARGV[7]) * 4] or '1')
local exists = redis.call('EXISTS', key) == 1
local state = nil
if exists then
  if redis.call('HGET', key, 'owner') ~= owner then
    return {'conflict', 'order ' .. order_id .. ' holds reservations of another owner', {}}
  end
  state = settle(key, order_id)
  if (state == 'released' or state == 'expired') and attempt > num(redis.call('HGET', key, 'attempt') or '1') then
    redis.call('DEL', key)  -- a new placement attempt of the order: nothing of the old set is held any more
    exists, state = false, nil
  end
end
local n = tonumber(ARGV[7])
local new = {}
for i = 1, n do
  local b = 7 + (i - 1) * 4
  local lid, sku, loc, qty = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], tonumber(ARGV[b + 4])
  local existing = exists and redis.call('HGET', key, 'l:' .. lid)
  if existing then
    local l = cjson.decode(existing)
    if l.sku ~= sku or l.loc ~= loc or l.qty ~= qty then
      return {'conflict', 'line ' .. lid .. ' was reserved with another sku, location or qty', {}}
    end
  else
    table.insert(new, {lid = lid, sku = sku, loc = loc, qty = qty})
  end
end
if #new == 0 then
  if allocate then
    -- As a commit would answer: a held set is promoted, an expired or released one is gone.
    if state == 'held' then
      allocate_set(key, order_id)
    elseif state ~= 'allocated' then
      return {'gone', state, {}}
    end
  end
  return {'replay', '', redis.call('HGETALL', key)}
end
if exists and state ~= 'held' and state ~= 'allocated' then return {'gone', state, {}} end
local unknown = {}
for _, l in ipairs(new) do
  if redis.call('EXISTS', SKUBASE .. l.sku) == 0 then
    table.insert(unknown, {line_id = l.lid, sku = l.sku, location = l.loc})
  end
end
if #unknown > 0 then return {'unknown', cjson.encode(unknown), {}} end

local need = {}
for _, l in ipairs(new) do
  local k = l.sku .. '@' .. l.loc
  need[k] = (need[k] or 0) + l.qty
end
local short = {}
for _, l in ipairs(new) do
  local skukey = SKUBASE .. l.sku
  local avail = 0
  local oh = redis.call('HGET', skukey, l.loc .. '|oh')
  if oh then
    avail = tonumber(oh) - num(redis.call('HGET', skukey, l.loc .. '|rs')) - num(redis.call('HGET', skukey, l.loc .. '|ss'))
    if avail < 0 then avail = 0 end
  end
  if avail < need[l.sku .. '@' .. l.loc] then
    table.insert(short, {line_id = l.lid, sku = l.sku, location = l.loc, requested = l.qty, available = avail})
  end
end
if #short > 0 then return {'short', cjson.encode(short), {}} end

if not exists then
  state = 'held'
  if allocate then state = 'allocated' end
  redis.call('HSET', key, 'owner', owner, 'state', state, 'created', NOW, 'v', 0, 'attempt', attempt)
end
local changed = {}
for _, l in ipairs(new) do
  add_reserved(l.sku, l.loc, l.qty)
  touch(changed, l.sku, l.loc)
  redis.call('HSET', key, 'l:' .. l.lid, cjson.encode({sku = l.sku, loc = l.loc, qty = l.qty, state = state, done = 0}))
end
if state == 'held' and allocate then
  allocate_set(key, order_id)  -- lines added to a held set: the whole set is allocated now
elseif state == 'held' then
  local exp = NOW + ttl
  redis.call('HSET', key, 'exp', exp)
  redis.call('ZADD', EXPIRY, exp, order_id)
end
local v = redis.call('HINCRBY', key, 'v', 1)
emit_changed(changed, 'reserve:' .. order_id .. ':' .. v)
local outcome = 'created'
if exists then outcome = 'added' end
return {outcome, '', redis.call('HGETALL', key)}
