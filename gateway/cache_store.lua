-- Keep one answer in the gateway's response cache (gateway/cache.py), unless one of its tags was purged since the
-- answer was fetched: a purge that lands while a stale answer is on its way back must win.
-- KEYS[1]: the entry; KEYS[2 .. n+1]: the tags' entry sets; KEYS[n+2 .. 2n+1]: the tags' purge stamps.
-- ARGV[1]: the encoded entry; ARGV[2]: its lifetime in ms (until its stale limit); ARGV[3]: the cache clock (ms)
-- when the answer was read; ARGV[4]: n.  Returns 1 if stored, 0 if a purge came after the read.
local n = tonumber(ARGV[4])
local read_ms = tonumber(ARGV[3])
for i = 1, n do
    local stamp = redis.call('get', KEYS[n + 1 + i])
    if stamp and tonumber(stamp) >= read_ms then
        return 0
    end
end
local px = tonumber(ARGV[2])
redis.call('set', KEYS[1], ARGV[1], 'px', px)
for i = 1, n do
    local tag_set = KEYS[1 + i]
    redis.call('sadd', tag_set, KEYS[1])
    if redis.call('pttl', tag_set) < px then
        redis.call('pexpire', tag_set, px)
    end
end
return 1
