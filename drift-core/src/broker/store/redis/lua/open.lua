-- Opens a topic, creating it when asked. KEYS[1] its meta hash, KEYS[2]
-- its log. ARGV[1] '1' to create it when missing, then its configuration:
-- ARGV[2] history ('1' or '0'), ARGV[3] messages kept, ARGV[4] bytes kept
-- ('' for no bound), ARGV[5] age kept in µs ('' for no bound).
-- Answers {0 (existing) or 1 (created), epoch, history, kept, max_bytes,
-- max_age, last_seq, retained, retained_bytes}, or {2} when it is missing
-- and was not to be created.
local meta, log = KEYS[1], KEYS[2]

local function answer(code)
  local m = redis.call('HMGET', meta, 'epoch', 'history', 'keep', 'max_bytes', 'max_age',
    'last_seq', 'first_seq', 'first_offset', 'bytes')
  local last = tonumber(m[6])
  return {code, tonumber(m[1]), m[2], m[3], m[4], m[5], last,
    last - tonumber(m[7]) + 1, tonumber(m[9]) - tonumber(m[8])}
end

if redis.call('HEXISTS', meta, 'epoch') == 1 then
  return answer(0)
end
if ARGV[1] ~= '1' then
  return {2}
end
-- A new epoch: the server's clock, above the epoch of an incarnation
-- deleted moments ago (its tombstone), so that none is handed out twice.
local gone = tonumber(redis.call('HGET', meta, 'gone') or '0')
local epoch = math.max(now_us(), gone + 1)
redis.call('DEL', meta, log)
redis.call('HSET', meta, 'epoch', dec(epoch), 'history', ARGV[2], 'keep', ARGV[3],
  'max_bytes', ARGV[4], 'max_age', ARGV[5], 'last_seq', '0', 'first_seq', '1',
  'first_offset', '0', 'bytes', '0', 'last_time', '0')
return answer(1)
