-- starq store library, part 3: agent actions, the apply entry point, configuration, views,
-- node leases, instances and inboxes, the journal, and the registration of every function.

-- Clears every per-queue pause of the agent.
local function unpause_queues(ag, st)
  for q in pairs(agent_fields(st, 'z')) do agent_set(ag, 'z:' .. q, false) end
end

function R.agent(_, a)
  local ag, draw, action = a[1], a[2], a[3]
  local st = agent_state(ag)
  if st == nil then return { 'invalid', 'agent', ag } end
  local has_queue, q = a[4] == '1', a[5]
  if action == 'login' then
    if st.st ~= 'out' then return { 'invalid', 'logged_in', ag } end
    agent_set(ag, 'st', 'idle', 'li', NOW_S, 'mi', '0')
    journal('login', 'agent', ag)
  elseif action == 'logout' then
    if st.st == 'out' then return { 'invalid', 'not_logged_in', ag } end
    if st.st == 'res' or st.st == 'call' then return { 'invalid', 'on_call', ag } end
    agent_set(ag, 'st', 'out', 'pa', false)
    unpause_queues(ag, st)
    journal('logout', 'agent', ag, 'session', since(NOW, tonumber(st.li)))
  elseif action == 'pause' then
    local reason = a[6]
    if has_queue then
      if not st['p:' .. q] then return { 'invalid', 'not_member', ag, q } end
      agent_set(ag, 'z:' .. q, reason)
      journal('paused', 'agent', ag, 'queue', q, 'reason', reason, 'auto', '0')
    else
      agent_set(ag, 'pa', reason)
      -- The agent's queues, packed as members_of reads them (the codec sorts them).
      journal('paused', 'agent', ag, 'reason', reason, 'auto', '0', 'members', st.ms or '')
    end
  elseif action == 'unpause' then
    if has_queue then
      agent_set(ag, 'z:' .. q, false)
      journal('unpaused', 'agent', ag, 'queue', q)
    else
      agent_set(ag, 'pa', false)
      unpause_queues(ag, st)
      journal('unpaused', 'agent', ag, 'members', st.ms or '')
    end
    agent_set(ag, 'mi', '0')
  elseif action == 'penalty' then
    if not st['p:' .. q] then return { 'invalid', 'not_member', ag, q } end
    agent_set(ag, 'p:' .. q, a[6])
    journal('penalty', 'agent', ag, 'queue', q, 'penalty', a[6])
  elseif action == 'reach' then
    agent_set(ag, 'rc', a[6])
    journal('reach', 'agent', ag, 'reachable', a[6])
  else
    return redis.error_reply('starq: unknown agent action ' .. tostring(action))
  end
  refresh_agent(ag, draw)
  check_leave_empty(ag)
  match_agent(ag)
  -- A login or logout can cross a queue's `penaltymemberslimit`: once penalties are ignored,
  -- agents outside waiting callers' windows may take them.
  for _, mq in ipairs(members_of(ag)) do fill_if_penalties_ignored(mq) end
  return { 'done' }
end

local JOURNAL_CAP = '1048576'
-- Clock floors (epochs, journal seqs) count in thousandths of a millisecond, capped so that
-- they stay exact in doubles (2^43 ms is the year 2248).
local CLOCK_CAP = 8796093022208

local function setup(keys, now)
  rc = redis.call
  P = string.sub(keys[1], 1, -2)
  NOW = now or 0
  NOW_S = n2s(NOW)
  J, N, QC, CC, CD, MC, QR, IX, AC, AD = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
end

-- Writes back what the call changed in cached hashes.
local function flush()
  flush_callers()
  flush_agents()
  flush_counters()
end

-- The node's current epoch is the fence's: no newer tenure began since it was issued.
local function fence_holds(node, epoch)
  return (rc('HGET', k_lease(node), 'epoch') or '0') == epoch
end

local function append_journal()
  if #J == 0 then return end
  local last = rc('HINCRBY', k_site(), 'jseq', n2s(#J))
  if last == #J then
    -- No counter before: a fresh site, or Redis lost writes. Restart above the clock and above
    -- what the stream still holds, so a seq is never handed out twice (reporters dedupe on it).
    local floor = math.min(NOW, CLOCK_CAP) * 1000
    local newest = rc('XREVRANGE', k_journal(), '+', '-', 'COUNT', 1)[1]
    if newest then floor = math.max(floor, tonumber(string.match(newest[1], '^(%d+)'))) end
    last = floor + #J
    -- The journal starts anew: its identity is the time of its first record (see jid).
    rc('HSET', k_site(), 'jseq', n2s(last), 'jbegan', NOW_S)
  end
  local seq = last - #J
  local key, t = k_journal(), NOW_S
  for i, e in ipairs(J) do
    seq = seq + 1
    if i < #J then
      rc('XADD', key, n2s(seq) .. '-0', 't', t, 'e', unpack(e))
    else
      -- Trimming once per call is enough for a cap that is approximate anyway.
      rc('XADD', key, 'MAXLEN', '~', JOURNAL_CAP, n2s(seq) .. '-0', 't', t, 'e', unpack(e))
    end
  end
end

-- ARGV: kind, now, has fence (1/0), node, epoch, then the request's own fields.
local function apply(keys, args)
  setup(keys, tonumber(args[2]))
  local handler = R[args[1]]
  if handler == nil then return redis.error_reply('starq: unknown request ' .. args[1]) end
  if args[3] == '1' and not fence_holds(args[4], args[5]) then return { { 'fenced' }, {} } end
  local rest = { unpack(args, 6) }
  local verdict = handler(args[4], rest)
  flush()
  append_journal()
  return { verdict, N }
end

-- ARGV from `first`: queue count, per queue its id and QFIELDS; agent count, per agent id,
-- wrap-up ('' for the queue's), membership count, then (queue, penalty) pairs. Returns the
-- configured queues and agents; memberships added and removed go to the journal buffer.
local function install(args, first)
  local i = first
  local queues, agents = {}, {}
  local function take()
    i = i + 1
    return args[i - 1]
  end
  for _ = 1, tonumber(take()) do
    local q = take()
    queues[#queues + 1] = q
    local fv = {}
    for _, f in ipairs(QFIELDS) do
      fv[#fv + 1] = f
      fv[#fv + 1] = take()
    end
    -- The counters' field 'cfg' packs the values (none holds a newline): what routing reads,
    -- and the key qcfg memoizes the parsed form by.
    local values = {}
    for j = 2, #fv, 2 do values[#values + 1] = fv[j] end
    local packed = table.concat(values, '\n')
    rc('HSET', k_qc(q), unpack(fv))
    set_field(q, 'cfg', packed)
    QC[q] = nil
  end
  -- Member order per queue follows the order agents are configured in.
  local next_order = {}
  for _ = 1, tonumber(take()) do
    local ag, wu, nm = take(), take(), tonumber(take())
    agents[#agents + 1] = ag
    agent_create(ag)
    local st = agent_state(ag)
    agent_set(ag, 'wu', wu ~= '' and wu)
    local keep, kept = {}, {}
    for _ = 1, nm do
      local q, p = take(), take()
      local order = next_order[q] or 0
      next_order[q] = order + 1
      if not keep[q] then kept[#kept + 1] = q end
      keep[q] = true
      -- A remaining member keeps its counters (last call end, calls taken).
      if st['n:' .. q] == nil then
        agent_set(ag, 'l:' .. q, '0', 'n:' .. q, '0')
        journal('member_added', 'agent', ag, 'queue', q, 'penalty', p)
      end
      agent_set(ag, 'p:' .. q, p, 'o:' .. q, n2s(order))
    end
    -- A former member loses its settings and counters (not a pause, as in MemoryStore);
    -- refresh_agent then drops its places.
    for _, q in ipairs(members_of(ag)) do
      if not keep[q] then
        agent_set(ag, 'p:' .. q, false, 'o:' .. q, false, 'l:' .. q, false, 'n:' .. q, false)
        journal('member_removed', 'agent', ag, 'queue', q)
      end
    end
    table.sort(kept, bytes_lt)
    agent_set(ag, 'ms', pack_members(kept))
    MC[ag] = nil -- its queues just changed
    refresh_agent(ag, '0', true)
  end
  -- An agent left out of the configuration leaves every queue, in id order after the others
  -- (as in MemoryStore); its state stays, so a call in progress goes on to its end. (Agents
  -- are listed from the first configuration that had this key on.)
  local configured = {}
  for _, ag in ipairs(agents) do configured[ag] = true end
  local gone = {}
  for _, ag in ipairs(rc('SMEMBERS', k_agents())) do
    if not configured[ag] and agent_state(ag) then gone[#gone + 1] = ag end
  end
  table.sort(gone, bytes_lt)
  for _, ag in ipairs(gone) do
    for _, q in ipairs(members_of(ag)) do
      agent_set(ag, 'p:' .. q, false, 'o:' .. q, false, 'l:' .. q, false, 'n:' .. q, false)
      journal('member_removed', 'agent', ag, 'queue', q)
    end
    agent_set(ag, 'ms', pack_members({}))
    MC[ag] = nil
    refresh_agent(ag, '0', true)
  end
  if #agents > 0 then rc('SADD', k_agents(), unpack(agents)) end
  return queues, agents
end

-- Membership changes are journaled by reconfigure only: configure has no time to stamp them
-- with (and journal seqs floor on the time), so its records are dropped with J.
local function configure(keys, args)
  setup(keys, 0)
  install(args, 1)
  flush()
  rc('HSET', k_site(), 'configured', '1')
  return 'OK'
end

-- board.rs rematch: the configured agents and the available agents of the configured queues,
-- in id order, each matched as if it had just become available.
local function rematch(queues, agents)
  local seen, ids = {}, {}
  local function add(a)
    if not seen[a] then
      seen[a] = true
      ids[#ids + 1] = a
    end
  end
  for _, a in ipairs(agents) do add(a) end
  for _, q in ipairs(queues) do
    for _, p in ipairs(rc('ZRANGE', k_tiers(q), '0', '-1')) do
      for _, a in ipairs(rc('ZRANGE', k_avail(q, p), '0', '-1')) do add(a) end
    end
  end
  table.sort(ids, bytes_lt)
  for _, a in ipairs(ids) do match_agent(a) end
end

-- ARGV: now, then configure's. Returns {verdict, notices} like apply.
local function reconfigure(keys, args)
  setup(keys, tonumber(args[1]))
  local queues, agents = install(args, 2)
  rematch(queues, agents)
  flush()
  rc('HSET', k_site(), 'configured', '1')
  append_journal()
  return { { 'done' }, N }
end

-- === views ===

local function agent_view(keys, args)
  setup(keys)
  local ag = args[1]
  local st = agent_state(ag)
  if st == nil then return false end
  local arg = ''
  if st.st == 'res' then
    local res = reservation(st.sr)
    arg = res and res.call or ''
  elseif st.st == 'call' then arg = st.sc
  elseif st.st == 'rest' then arg = st.su end
  local paused = {}
  for q, reason in pairs(agent_fields(st, 'z')) do
    paused[#paused + 1] = q
    paused[#paused + 1] = reason
  end
  return { st.st, arg, st.sw or '0', st.rc, paused, st.pa or false }
end

local function queue_view(keys, args)
  setup(keys)
  local q = args[1]
  if rc('EXISTS', k_qc(q)) == 0 then return false end
  return { rc('ZCARD', k_present(q)), counter(q, 'nw'), counter(q, 'nl'), counter(q, 'na') }
end

local function position(keys, args)
  setup(keys)
  local c = caller(args[1])
  if c == nil or c.st == 'c' then return false end
  return position_of(c.q, c.mb)
end

-- The node's callers, for a new owner to adopt: per caller {call, queue, caller id, entered,
-- 'w', {rid, agent, ...}} while in the queue (with its offers), or {…, 'c', rid, agent, since}
-- once connected. O(callers of the node); read on takeover and reconnect, never on a call's path.
local function node_calls(keys, args)
  setup(keys)
  local out = {}
  for _, call in ipairs(rc('SMEMBERS', k_node_calls(args[1]))) do
    local c = record('c', call, k_caller(call), caller_decode)
    if c then
      local row = { call, c.q, c.cid or '', c.en }
      if c.st == 'c' then
        row[5], row[6], row[7], row[8] = 'c', c.res or '0', c.agent, c.since
      else
        local offers = {}
        for rid in string.gmatch(c.rs or '', '%d+') do
          offers[#offers + 1] = rid
          local res = reservation(rid)
          offers[#offers + 1] = res and res.agent or ''
        end
        row[5], row[6] = 'w', offers
      end
      out[#out + 1] = row
    end
  end
  return out
end

-- === node leases ===
--
-- Epochs never go backwards, even when Redis lost the lease (restart without persistence,
-- failover to a replica that missed the last writes, or the GC expiry below): a new tenure's
-- epoch is max(previous + 1, now_ms * 1000). The clock carries epochs forward when the previous
-- one is gone, and the factor 1000 leaves room for a thousand takeovers per millisecond before
-- the clock is the bound. This assumes instance clocks agree to well within the time Redis
-- takes to recover; NTP gives milliseconds, a restart takes seconds.

local LEASE_GC = 86400000

-- ARGV: node, owner, now, ttl. Returns {epoch, expires} or nil when someone else holds it.
local function acquire(keys, args)
  setup(keys, tonumber(args[3]))
  local node, owner, ttl = args[1], args[2], tonumber(args[4])
  local key = k_lease(node)
  local l = hash(key)
  local epoch
  if l and tonumber(l.expires) > NOW then
    if l.owner ~= owner then return false end
    epoch = l.epoch
  else
    local prev = l and tonumber(l.epoch) or 0
    epoch = n2s(math.max(prev + 1, math.min(NOW, CLOCK_CAP) * 1000))
  end
  local expires = n2s(NOW + ttl)
  rc('HSET', key, 'owner', owner, 'epoch', epoch, 'expires', expires)
  -- Garbage collection only: the clock floor keeps epochs increasing once the key is gone.
  rc('PEXPIRE', key, ttl + LEASE_GC)
  return { epoch, expires }
end

-- ARGV: node, owner, epoch, now, ttl. Returns the new expiry, or nil when the lease is lost.
local function renew(keys, args)
  setup(keys, tonumber(args[4]))
  local key = k_lease(args[1])
  local l = hash(key)
  if not l or l.owner ~= args[2] or l.epoch ~= args[3] or tonumber(l.expires) <= NOW then
    return false
  end
  local expires = n2s(NOW + tonumber(args[5]))
  rc('HSET', key, 'expires', expires)
  rc('PEXPIRE', key, tonumber(args[5]) + LEASE_GC)
  return expires
end

-- ARGV: node, owner, epoch. The epoch stays, so this tenure's late writes still fail.
local function release(keys, args)
  setup(keys)
  local key = k_lease(args[1])
  local l = hash(key)
  if l and l.owner == args[2] and l.epoch == args[3] then rc('HSET', key, 'expires', '0') end
  return 'OK'
end

-- === instances and inboxes ===

-- ARGV: instance, now, ttl. Registers the instance until now + ttl (0: leaves), forgets the
-- lapsed ones, and returns the live ones, sorted. O(instances).
local function heartbeat(keys, args)
  setup(keys, tonumber(args[2]))
  local key, ttl = k_instances(), tonumber(args[3])
  if ttl > 0 then rc('ZADD', key, n2s(NOW + ttl), args[1]) else rc('ZREM', key, args[1]) end
  rc('ZREMRANGEBYSCORE', key, '-inf', n2s(NOW))
  local live = rc('ZRANGE', key, 0, -1)
  table.sort(live)
  return { rc('HEXISTS', k_site(), 'configured'), live }
end

-- ARGV: node, notice, node, notice, ... Notices stay opaque here (see codec.rs).
local function post_notices(keys, args)
  setup(keys)
  for i = 1, #args, 2 do rc('RPUSH', k_inbox(args[i]), args[i + 1]) end
  return 'OK'
end

-- ARGV: node, epoch, limit. The fenced owner takes the oldest notices left for its node.
local function take_notices(keys, args)
  setup(keys)
  if not fence_holds(args[1], args[2]) then return { 'fenced' } end
  return { 'ok', rc('LPOP', k_inbox(args[1]), tonumber(args[3])) or {} }
end

-- === journal: a stream read through one consumer group per reader ===

local CONSUMER = 'starq'

local function ensure_group(g, start)
  if rc('HEXISTS', k_jgroups(), g) == 1 then return end
  -- BUSYGROUP (the group outlived its bookkeeping) is fine: it exists.
  redis.pcall('XGROUP', 'CREATE', k_journal(), g, start, 'MKSTREAM')
  rc('HSET', k_jgroups(), g, '0')
end

-- ARGV: group, limit. Unacknowledged records first (delivered again), then new ones.
local function read_journal(keys, args)
  setup(keys)
  local g, limit = args[1], tonumber(args[2])
  ensure_group(g, '0')
  local out = {}
  for _, from in ipairs({ '0', '>' }) do
    if #out < limit then
      local r = rc('XREADGROUP', 'GROUP', g, CONSUMER, 'COUNT', limit - #out, 'STREAMS',
        k_journal(), from)
      if r and r[1] then
        for _, e in ipairs(r[1][2]) do
          if e[2] then out[#out + 1] = e end -- trimmed records come back without fields
        end
      end
    end
  end
  return out
end

local function id_seq(id) return tonumber(string.match(id, '^(%d+)')) end

-- ARGV: group, seq. Acknowledges every record up to seq, then drops what every group has.
local function ack_journal(keys, args)
  setup(keys)
  local g, seq_s = args[1], args[2]
  local seq = tonumber(seq_s)
  local stream = k_journal()
  ensure_group(g, seq_s .. '-0')
  while true do
    local pending = rc('XPENDING', stream, g, '-', seq_s .. '-0', 100)
    if #pending == 0 then break end
    local ids = {}
    for _, p in ipairs(pending) do ids[#ids + 1] = p[1] end
    rc('XACK', stream, g, unpack(ids))
    if #pending < 100 then break end
  end
  for _, info in ipairs(rc('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
    if f.name == g and id_seq(f['last-delivered-id']) < seq then
      rc('XGROUP', 'SETID', stream, g, seq_s .. '-0')
    end
  end
  local acked = math.max(tonumber(rc('HGET', k_jgroups(), g) or '0'), seq)
  rc('HSET', k_jgroups(), g, n2s(acked))
  local floor
  for _, v in ipairs(rc('HVALS', k_jgroups())) do
    local n = tonumber(v)
    if floor == nil or n < floor then floor = n end
  end
  if floor and floor > 0 then rc('XTRIM', stream, 'MINID', n2s(floor + 1) .. '-0') end
  return 'OK'
end

-- ARGV: group. Records the group has not acknowledged: newest seq minus its acknowledged one,
-- capped at the records kept (seqs jump once after Redis lost its data).
local function journal_backlog(keys, args)
  setup(keys)
  local newest = rc('XREVRANGE', k_journal(), '+', '-', 'COUNT', 1)[1]
  if not newest then return 0 end
  local acked = tonumber(rc('HGET', k_jgroups(), args[1]) or '0')
  local behind = math.max(0, id_seq(newest[1]) - acked)
  return math.min(behind, rc('XLEN', k_journal()))
end

-- The journal's identity: when its first record was written (false before any record).
local function journal_id(keys)
  setup(keys)
  return rc('HGET', k_site(), 'jbegan')
end

-- === registration ===

local function reg(name, callback, read_only)
  redis.register_function({ function_name = FN .. name, callback = callback,
    flags = read_only and { 'no-writes' } or {} })
end

reg('apply', apply)
reg('configure', configure)
reg('reconfigure', reconfigure)
reg('agent', agent_view, true)
reg('queue', queue_view, true)
reg('node_calls', node_calls, true)
reg('heartbeat', heartbeat)
reg('post_notices', post_notices)
reg('take_notices', take_notices)
reg('position', position, true)
reg('acquire', acquire)
reg('renew', renew)
reg('release', release)
reg('jread', read_journal)
reg('jack', ack_journal)
reg('jbacklog', journal_backlog, true)
reg('jid', journal_id, true)
-- For tests and the benchmark: the Lua score of one agent, and the cheapest possible call.
reg('score', function(_, a)
  return n2s(score(a[1], a[2], a[3], a[4], a[5], a[6]))
end, true)
reg('noop', function() return 1 end, true)
