-- Store the answer of the request that holds the claim. KEYS[1] the record.
-- ARGV: holder, status, location, media, body, ttl ms. 1 if stored, 0 if another holder took over.
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'inflight' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'location', ARGV[3], 'media', ARGV[4], 'body', ARGV[5])
redis.call('HDEL', KEYS[1], 'until', 'holder')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
