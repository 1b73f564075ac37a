-- Publish an event once per id (shared.events): the de-duplication mark and the stream entry together.
-- KEYS: seen-mark, stream. ARGV: mark ttl ms, event id, event type, data, MINID for age trimming.
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[5], '*', 'id', ARGV[2], 'type', ARGV[3], 'data', ARGV[4])
end
return false
