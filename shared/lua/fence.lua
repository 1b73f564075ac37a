-- A prelude for fenced writes (shared.locks, shared.lease): KEYS[1] is the lock or lease, ARGV[1] the holder's
-- value. A holder that lost it (stalled past its TTL, taken over) is refused before anything is written.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
