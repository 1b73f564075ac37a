-- End a claim without an answer to keep (a 5xx, a crash caught): the key keeps the resource it started, and
-- the next request with it takes over at once and resumes that resource. KEYS[1] the record. ARGV: holder.
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'inflight' then
  redis.call('HSET', KEYS[1], 'until', '0')
  return 1
end
return 0
