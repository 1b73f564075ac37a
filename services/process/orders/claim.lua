-- A retry worker claims a due saga: only if it is still due (a driver that finished removed it) and its lock
-- is free; then it is pushed out by a lock TTL (due again if this worker dies) and counted.
-- KEYS: the order's lock, due, claims. ARGV: lock value, lock ttl ms, now ms, member, next score.
local score = redis.call('ZSCORE', KEYS[2], ARGV[4])
if not score or tonumber(score) > tonumber(ARGV[3]) then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return 1
