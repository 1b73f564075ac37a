-- Compare-and-set of a signer's key set (shared/signing.py, KeyRing.rotate): replace KEYS[1] by ARGV[2] only
-- if it still holds ARGV[1], so two rotations at once never lose a key. Returns 1 if swapped, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
