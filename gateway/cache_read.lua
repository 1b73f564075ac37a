-- One read of the gateway's response cache (gateway/cache.py): the entry and the cache Redis's clock, so that
-- freshness, Age and the purge stamps compare against one clock whatever gateway replica asks.
-- KEYS[1]: the entry.  Returns {entry or false, now in ms}.
local now = redis.call('time')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return {redis.call('get', KEYS[1]), now_ms}
