-- Keep an in-flight claim alive: KEYS[1] the record. ARGV: holder, lease-until ms. 1 if still ours.
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'inflight' then
  redis.call('HSET', KEYS[1], 'until', ARGV[2])
  return 1
end
return 0
