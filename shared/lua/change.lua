-- One state change, fenced by its lock and written at once (shared/changes.py).
-- KEYS[1] the lock, then the keys the ops name by index. ARGV: lock value, lock ttl ms, acquire flag, ops...
-- acquire = '1': take the lock (SET NX) as part of the change; else the lock must hold our value (the fence).
-- Ops: SET k v | CREATE k v (SET, refused with EXISTS if k exists) | RPUSH k v | ZADD k score m | ZREM k m |
-- XADD k domain data (the outbox entry) | HSET k f v | HDEL k f | DEL k | UNLOCK_IF_EMPTY k (release the lock
-- unless k exists: the holder's last write, unless something waits for it there). Returns 2 if it released. A key argument is an index into KEYS.
if ARGV[3] == '1' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.error_reply('LOCKED') end
elseif redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
-- Refusals first, before anything is written: the change is all or nothing.
local i = 4
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'CREATE' and redis.call('EXISTS', KEYS[tonumber(ARGV[i + 1])]) == 1 then
    if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
    return redis.error_reply('EXISTS')
  end
  if op == 'SET' or op == 'CREATE' or op == 'RPUSH' or op == 'ZREM' or op == 'HDEL' then i = i + 3
  elseif op == 'ZADD' or op == 'XADD' or op == 'HSET' then i = i + 4
  elseif op == 'DEL' or op == 'UNLOCK_IF_EMPTY' then i = i + 2
  else return redis.error_reply('unknown op ' .. tostring(op)) end
end
local released = 1
i = 4
while i <= #ARGV do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'SET' or op == 'CREATE' then
    redis.call('SET', key, ARGV[i + 2]); i = i + 3
  elseif op == 'RPUSH' then
    redis.call('RPUSH', key, ARGV[i + 2]); i = i + 3
  elseif op == 'ZREM' then
    redis.call('ZREM', key, ARGV[i + 2]); i = i + 3
  elseif op == 'HDEL' then
    redis.call('HDEL', key, ARGV[i + 2]); i = i + 3
  elseif op == 'ZADD' then
    redis.call('ZADD', key, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'XADD' then
    redis.call('XADD', key, '*', 'domain', ARGV[i + 2], 'data', ARGV[i + 3]); i = i + 4
  elseif op == 'HSET' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'DEL' then
    redis.call('DEL', key); i = i + 2
  elseif op == 'UNLOCK_IF_EMPTY' then
    if redis.call('EXISTS', key) == 0 then
      redis.call('DEL', KEYS[1])
      released = 2
    end
    i = i + 2
  end
end
return released
