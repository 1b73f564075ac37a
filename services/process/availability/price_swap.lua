-- Swap a finished price sync in (loaded after the kernel's fence.lua: only the sync lease's holder may).
-- KEYS: lease, scratch hash, live hash, meta. ARGV: owner:token, synced_at ms, count.
if tonumber(ARGV[3]) > 0 then
  redis.call('RENAME', KEYS[2], KEYS[3])
else
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[4], 'synced_at', ARGV[2], 'count', ARGV[3])
redis.call('HDEL', KEYS[4], 'error', 'error_at')
local event_at = redis.call('HGET', KEYS[4], 'event_at')
if event_at and tonumber(event_at) >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[4], 'requested', ARGV[2])
end
return 1
