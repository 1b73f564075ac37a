-- Take (or keep) a lease: KEYS[1] the lease, KEYS[2] its token counter. ARGV: owner, ttl ms.
-- Returns the holder's fencing token (a new, larger one for a new holder), or nil while another owner holds it.
local current = redis.call('GET', KEYS[1])
if current then
  local owner, token = string.match(current, '^(.*):(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return nil
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
