-- Write snapshot rows (start-up build or reconciliation repair) where the snapshot is at least as new as the
-- projection's figure (a newer event already applied wins over an older snapshot).
-- ARGV[4] rows JSON [[sku, loc, on_hand, in_transit, safety_stock, as_of ms, source], ...], ARGV[5] cause
-- ('' = build: no events). Returns the rows whose on-hand changed: [sku, loc, old, new] (old -1 = absent).
local rows = cjson.decode(ARGV[4])
local cause = ARGV[5]
local changed = {}
local out = {}
for _, r in ipairs(rows) do
  local sku, loc, oh, it, ss, at, src = r[1], r[2], r[3], r[4], r[5], r[6], r[7]
  local key = SKUBASE .. sku
  local t = redis.call('HGET', key, loc .. '|t')
  if not t or at >= tonumber(t) then
    local old = redis.call('HGET', key, loc .. '|oh')
    redis.call('HSET', key, loc .. '|oh', oh, loc .. '|it', it, loc .. '|ss', ss, loc .. '|t', at, loc .. '|src', src)
    if not old or tonumber(old) ~= oh then
      table.insert(out, {sku, loc, old and tonumber(old) or -1, oh})
      touch(changed, sku, loc)
    end
  end
end
if cause ~= '' then emit_changed(changed, cause) end
return cjson.encode(out)
