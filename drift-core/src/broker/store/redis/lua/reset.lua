-- A caller saw seq ARGV[2] of incarnation ARGV[1], which this log never
-- had: the store came back with older data (a restart from an older
-- snapshot, a failover to a replica that was behind). Unless another
-- caller did so already, that incarnation ends and a new one begins, with
-- the same configuration and a greater epoch, and every node is told on
-- the channel of deletions (ARGV[3]; ARGV[4] is the topic's name).
-- KEYS[1] the meta hash, KEYS[2] the log. Answers 1 when it reset the
-- topic, 0 otherwise.
local meta, log = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'epoch', 'last_seq')
if not m[1] or m[1] ~= ARGV[1] or tonumber(m[2]) >= tonumber(ARGV[2]) then
  return 0
end
local epoch = math.max(now_us(), tonumber(m[1]) + 1)
redis.call('DEL', log)
redis.call('HSET', meta, 'epoch', dec(epoch), 'last_seq', '0', 'first_seq', '1',
  'first_offset', '0', 'bytes', '0', 'last_time', '0')
redis.call('PUBLISH', ARGV[3], 'R ' .. ARGV[1] .. ' ' .. ARGV[4])
return 1
