-- Prepended to every availability script (Redis scripts cannot include one another).
-- Common KEYS: 1 outbox stream, 2 set of ship-from-store stores, 3 sorted set of held reservation sets.
-- Common ARGV: 1 prefix of the per-SKU hashes, 2 now (epoch ms), 3 now (RFC 3339).
-- Per-SKU hashes are addressed from ARGV[1] rather than declared in KEYS: Omnigate runs one Redis (no cluster).
local OUTBOX, SHIP, EXPIRY = KEYS[1], KEYS[2], KEYS[3]
local SKUBASE, NOW, NOW_ISO = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local function num(v)
  if v then return tonumber(v) or 0 end
  return 0
end

local function hash_table(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function atp_of(h, loc)
  local v = num(h[loc .. '|oh']) - num(h[loc .. '|rs']) - num(h[loc .. '|ss'])
  if v < 0 then return 0 end
  return v
end

-- Add `delta` to the reserved figure of (sku, loc), never below zero.
local function add_reserved(sku, loc, delta)
  local key = SKUBASE .. sku
  local rs = num(redis.call('HGET', key, loc .. '|rs')) + delta
  if rs < 0 then rs = 0 end
  redis.call('HSET', key, loc .. '|rs', rs, loc .. '|rt', NOW)
end

-- Remember that (sku, loc) changed, for the availability.changed events of this update.
local function touch(changed, sku, loc)
  local locs = changed[sku]
  if not locs then
    locs = {}
    changed[sku] = locs
    table.insert(changed, sku)
  end
  if not locs[loc] then
    locs[loc] = true
    table.insert(locs, loc)
  end
end

local function outbox_add(event)
  redis.call('XADD', OUTBOX, '*', 'domain', 'availability', 'data', cjson.encode(event))
end

-- One availability.changed per changed SKU: the new ATP of every changed location and the new ship ATP.
local function emit_changed(changed, cause)
  if #changed == 0 then return end
  local ship_stores = {}
  for _, s in ipairs(redis.call('SMEMBERS', SHIP)) do ship_stores[s] = true end
  for _, sku in ipairs(changed) do
    local h = hash_table(SKUBASE .. sku)
    local ship = 0
    for field, _ in pairs(h) do
      local loc = string.match(field, '^(.-)|oh$')
      if loc and (string.sub(loc, 1, 3) == 'dc-' or ship_stores[loc]) then ship = ship + atp_of(h, loc) end
    end
    local locations = {}
    for _, loc in ipairs(changed[sku]) do
      table.insert(locations, {location = loc, available = atp_of(h, loc)})
    end
    outbox_add({
      id = 'availability:' .. cause .. ':' .. sku, type = 'availability.changed', occurred_at = NOW_ISO,
      source = 'availability', key = sku, schema_version = 1,
      payload = {sku = sku, locations = locations, ship = ship, as_of = NOW_ISO},
    })
  end
end

-- Reservation sets: hash with owner, state, exp, v and one `l:<line id>` JSON field per line.
local function set_lines(key)
  local out = {}
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    local f = flat[i]
    if string.sub(f, 1, 2) == 'l:' then
      local line = cjson.decode(flat[i + 1])
      line.field = f
      table.insert(out, line)
    end
  end
  return out
end

local function save_line(key, line)
  local field = line.field
  line.field = nil
  redis.call('HSET', key, field, cjson.encode(line))
  line.field = field
end

-- Held -> allocated (commit): allocated stock never expires. The reserved figures do not change.
local function allocate_set(key, order_id)
  for _, line in ipairs(set_lines(key)) do
    if line.state == 'held' then
      line.state = 'allocated'
      save_line(key, line)
    end
  end
  redis.call('HSET', key, 'state', 'allocated')
  redis.call('HDEL', key, 'exp')
  redis.call('ZREM', EXPIRY, order_id)
  redis.call('HINCRBY', key, 'v', 1)
end

-- Give every still-reserved unit of the set back to stock; lines and set end in `target`.
local function give_back(key, order_id, target, changed)
  for _, line in ipairs(set_lines(key)) do
    if line.state == 'held' or line.state == 'allocated' then
      local left = line.qty - (line.done or 0)
      if left > 0 then
        add_reserved(line.sku, line.loc, -left)
        touch(changed, line.sku, line.loc)
      end
      line.state = target
      save_line(key, line)
    end
  end
  redis.call('HSET', key, 'state', target)
  redis.call('HDEL', key, 'exp')
  redis.call('ZREM', EXPIRY, order_id)
  return redis.call('HINCRBY', key, 'v', 1)
end

local function expire_set(key, order_id)
  local changed = {}
  local lines = {}
  for _, line in ipairs(set_lines(key)) do
    if line.state == 'held' then
      table.insert(lines, {line_id = string.sub(line.field, 3), sku = line.sku, location = line.loc, qty = line.qty})
    end
  end
  local v = give_back(key, order_id, 'expired', changed)
  emit_changed(changed, 'expire:' .. order_id .. ':' .. v)
  outbox_add({
    id = 'reservation.expired:' .. order_id, type = 'reservation.expired', occurred_at = NOW_ISO,
    source = 'availability', key = order_id, schema_version = 1,
    payload = {order_id = order_id, owner = redis.call('HGET', key, 'owner'), lines = lines},
  })
end

-- A held set past its deadline is expired on first touch, whoever touches it first (sweeper or caller).
local function settle(key, order_id)
  local state = redis.call('HGET', key, 'state')
  if state == 'held' and num(redis.call('HGET', key, 'exp')) <= NOW then
    expire_set(key, order_id)
    return 'expired'
  end
  return state
end
