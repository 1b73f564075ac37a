-- Apply one stock fact from the event streams, once (by event id), under DESIGN §4's rules.
-- KEYS[4] applied mark, KEYS[5], KEYS[6] candidate reservation sets (the order ref, and the order id a split
-- shipment ref `<order id>-<n>` stands for). ARGV[4] event id, ARGV[5] change JSON:
--   {op = count|delta|ship|receive|hold|consume, at = epoch ms, inclusive = bool, loc, ss, src, sku?, on_hand?,
--    delta?, lines?, counts? = [{sku, loc, on_hand, at}]}
-- `inclusive`: the source stamps with whole seconds, so a delta at the same stamp as the projection's as_of
-- is taken as not yet counted (a same-second ambiguity resolved towards the lower, never oversold, figure).
-- `hold` (pickup.held): the POS took a pickup's units off the till and reported absolute counts; the counts
-- (each only if newer-or-equal) and the consumption of the order's allocation for the lines are this one
-- update, so the units are subtracted once. `consume` (pickup.completed) releases what allocation is left and
-- moves no on-hand: the POS reports its counts itself.
-- Returns the number of (sku, location) positions changed.
local event_id = ARGV[4]
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', 604800000) then return 0 end
local c = cjson.decode(ARGV[5])
local changed = {}
local count = 0

local function position(sku)
  local key = SKUBASE .. sku
  local t = redis.call('HGET', key, c.loc .. '|t')
  return key, t and tonumber(t) or nil
end

-- A delta applies only where the projection's on-hand predates it; a newer count already includes it.
local function delta_applies(t)
  if t == nil then return true end
  if c.inclusive then return t <= c.at end
  return t < c.at
end

local function move(sku, delta)
  local key, t = position(sku)
  if not delta_applies(t) then return end
  local oh = num(redis.call('HGET', key, c.loc .. '|oh')) + delta
  if oh < 0 then oh = 0 end
  local stamp = c.at
  if t and t > stamp then stamp = t end
  redis.call('HSET', key, c.loc .. '|oh', oh, c.loc .. '|t', stamp, c.loc .. '|src', c.src)
  if not redis.call('HGET', key, c.loc .. '|ss') then redis.call('HSET', key, c.loc .. '|ss', c.ss) end
  touch(changed, sku, c.loc)
  count = count + 1
end

-- Remove the order's reservation for shipped or collected lines, in this same update.
local function consume(sku, qty)
  for i = 5, 6 do
    local set = KEYS[i]
    if qty > 0 and redis.call('EXISTS', set) == 1 then
      local order_id = string.match(set, 'res:(.*)$')
      for _, line in ipairs(set_lines(set)) do
        if qty > 0 and line.sku == sku and line.loc == c.loc and (line.state == 'held' or line.state == 'allocated') then
          local take = math.min(qty, line.qty - (line.done or 0))
          if take > 0 then
            line.done = (line.done or 0) + take
            qty = qty - take
            add_reserved(sku, c.loc, -take)
            touch(changed, sku, c.loc)
          end
          if line.done >= line.qty then line.state = 'consumed' end
          save_line(set, line)
        end
      end
      local open = false
      for _, line in ipairs(set_lines(set)) do
        if line.state == 'held' or line.state == 'allocated' then open = true end
      end
      if not open and (redis.call('HGET', set, 'state') == 'held' or redis.call('HGET', set, 'state') == 'allocated') then
        redis.call('HSET', set, 'state', 'consumed')
        redis.call('HDEL', set, 'exp')
        redis.call('ZREM', EXPIRY, order_id)
      end
      redis.call('HINCRBY', set, 'v', 1)
    end
    if KEYS[6] == KEYS[5] then break end
  end
end

-- An absolute count applies only if at least as new as the projection's on-hand figure.
local function set_count(sku, loc, on_hand, at)
  local key = SKUBASE .. sku
  local t = redis.call('HGET', key, loc .. '|t')
  t = t and tonumber(t) or nil
  if t == nil or at >= t then
    redis.call('HSET', key, loc .. '|oh', on_hand, loc .. '|t', at, loc .. '|src', c.src)
    if not redis.call('HGET', key, loc .. '|ss') then redis.call('HSET', key, loc .. '|ss', c.ss) end
    touch(changed, sku, loc)
    count = count + 1
  end
end

if c.op == 'count' then
  set_count(c.sku, c.loc, c.on_hand, c.at)
elseif c.op == 'hold' then
  for _, k in ipairs(c.counts) do set_count(k.sku, k.loc, k.on_hand, k.at) end
  for _, line in ipairs(c.lines) do consume(line.sku, line.qty) end
elseif c.op == 'consume' then
  for _, line in ipairs(c.lines) do consume(line.sku, line.qty) end
elseif c.op == 'delta' then
  move(c.sku, c.delta)
elseif c.op == 'ship' then
  for _, line in ipairs(c.lines) do
    consume(line.sku, line.qty)
    move(line.sku, -line.qty)
  end
elseif c.op == 'receive' then
  for _, line in ipairs(c.lines) do move(line.sku, line.qty) end
end
emit_changed(changed, event_id)
return count
