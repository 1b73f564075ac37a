-- Renew a held lock: KEYS[1] the lock, ARGV[1] the holder's value, ARGV[2] ttl ms. 1 if still ours, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
