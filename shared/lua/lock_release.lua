-- Release a held lock: KEYS[1] the lock, ARGV[1] the holder's value. 1 if it was ours, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
