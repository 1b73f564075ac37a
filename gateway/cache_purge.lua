-- Purge one tag of the gateway's response cache (gateway/cache.py): stamp the tag with the cache clock (so an
-- answer fetched before now is not stored afterwards), then drop every entry carrying it and the tag's set.
-- KEYS[1]: the tag's entry set; KEYS[2]: its purge stamp.  ARGV[1]: how long the stamp is kept (ms).
-- Returns how many entries were dropped.
local now = redis.call('time')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('set', KEYS[2], now_ms, 'px', tonumber(ARGV[1]))
local entries = redis.call('smembers', KEYS[1])
for i = 1, #entries, 500 do
    redis.call('del', unpack(entries, i, math.min(i + 499, #entries)))
end
redis.call('del', KEYS[1])
return #entries
