-- extend | commit | release | expire of one reservation set.
-- KEYS[4] the set. ARGV[4] action, ARGV[5] order id, ARGV[6] ttl ms (extend).
-- Returns {outcome, detail, set fields}: ok | missing | expired | conflict | noop.
local key, action, order_id = KEYS[4], ARGV[4], ARGV[5]
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', EXPIRY, order_id)
  return {'missing', '', {}}
end
local state = settle(key, order_id)
if action == 'expire' then
  if state ~= 'held' then redis.call('ZREM', EXPIRY, order_id) end
  if state == 'expired' then return {'ok', '', {}} end
  return {'noop', '', {}}
end
if action == 'release' then
  if state == 'held' or state == 'allocated' then
    local changed = {}
    local v = give_back(key, order_id, 'released', changed)
    emit_changed(changed, 'release:' .. order_id .. ':' .. v)
  end
  return {'ok', '', redis.call('HGETALL', key)}
end
if state == 'expired' then return {'expired', '', redis.call('HGETALL', key)} end
if action == 'extend' then
  if state == 'held' then
    local exp = NOW + tonumber(ARGV[6])
    redis.call('HSET', key, 'exp', exp)
    redis.call('ZADD', EXPIRY, exp, order_id)
    redis.call('HINCRBY', key, 'v', 1)
  elseif state ~= 'allocated' then
    return {'conflict', 'the reservation set is ' .. state, redis.call('HGETALL', key)}
  end
  return {'ok', '', redis.call('HGETALL', key)}
end
if action == 'commit' then
  if state == 'held' then
    allocate_set(key, order_id)
  elseif state ~= 'allocated' then
    return {'conflict', 'the reservation set is ' .. state, redis.call('HGETALL', key)}
  end
  return {'ok', '', redis.call('HGETALL', key)}
end
return redis.error_reply('unknown action ' .. tostring(action))
