-- starq store library, part 2: the routing requests, step by step as memory/board.rs does them
-- (same order of journal events and notices). Function names follow board.rs.

local match_agent, match_caller, match_head, cancel_reservation

-- Callers are read through a cache that lives for one function call (CC, reset by setup);
-- caller_set changes the cached copy and notes the caller (CD), and flush_callers writes each
-- changed caller back with one SET at the end of the call. Fields stay strings; the few
-- compared or computed with become numbers where they are used.
local function caller(call)
  local t = CC[call]
  if t ~= nil then return t or nil end
  t = record('c', call, k_caller(call), caller_decode)
  CC[call] = t or false
  return t
end

-- Sets fields (name, value pairs of strings) of an existing caller; false deletes one.
local function caller_set(call, ...)
  local t = caller(call)
  if not CD[call] then
    unkeep('c', call)
    CD[call] = true
  end
  local n = select('#', ...)
  for i = 1, n, 2 do
    local f, v = select(i, ...)
    t[f] = v or nil
  end
end

-- A call that ended cannot enter again for ENDED_KEPT ms (a stray found while its channel was
-- on its way out); like MemoryStore's `mark_ended`. Its outcome replaces the caller, if any.
-- A string, as redis.call formats a number argument with '%.17g', which costs more.
local ENDED_KEPT = '3600000'
local function mark_ended(call, outcome) rc('SET', k_caller(call), outcome, 'PX', ENDED_KEPT) end

local function caller_del(call, outcome)
  local c = caller(call)
  if c then rc('SREM', k_node_calls(c.node), call) end
  mark_ended(call, outcome)
  unkeep('c', call)
  CC[call], CD[call] = false, nil
end

local function flush_callers()
  for call in pairs(CD) do
    local t = CC[call]
    local s = caller_pack(t)
    rc('SET', k_caller(call), s)
    keep('c', call, s, t)
  end
  CD = {}
end

-- A caller's reservations: field 'rs', their ids in the order they were made (ascending, as
-- ids only grow), separated by spaces; absent when there are none.
local function caller_rids(c)
  local out = {}
  if c.rs then
    for r in string.gmatch(c.rs, '%d+') do out[#out + 1] = r end
  end
  return out
end

local function caller_drop_rid(call, rid)
  local keep = {}
  for _, r in ipairs(caller_rids(caller(call))) do
    if r ~= rid then keep[#keep + 1] = r end
  end
  caller_set(call, 'rs', #keep > 0 and table.concat(keep, ' '))
end

local function set_status(a, status, fields)
  agent_set(a, 'st', status, unpack(fields or {}))
end

local check_leave_empty, leave_if_empty -- defined below (mutual recursion)

local function reserve(call, a)
  local rid = n2s(rc('HINCRBY', k_site(), 'res', '1'))
  local c = caller(call)
  local q = c.q
  if c.st == 'w' then
    if c.unlisted then
      c.unlisted = nil -- a new caller taken at once: never written to its waiting set
    else
      waiting_remove(q, c.wmin, c.wmax, c.mb)
    end
    caller_set(call, 'st', 'o')
  end
  caller_set(call, 'rs', c.rs and (c.rs .. ' ' .. rid) or rid)
  rc('SET', k_res(rid), reservation_pack(call, a, q, NOW_S))
  set_status(a, 'res', { 'sr', rid })
  refresh_agent(a, '0')
  journal('offered', 'call', call, 'queue', q, 'agent', a, 'res', rid)
  notice('O', rid, call, c.node, q, a)
  check_leave_empty(a)
end

-- Reserves the agent(s) the queue's strategy selects for `call`; whether any was reserved.
local function offer_to_best(call)
  local c = caller(call)
  local q = c.q
  local cfg = qcfg(q)
  local wmin, wmax
  if not penalties_ignored(q) then wmin, wmax = c.wmin, c.wmax end
  local cursor = tonumber(field(q, 'rr') or '')
  local chosen = select_agents(q, cfg.sel, wmin, wmax, cursor)
  if #chosen == 0 then return false end
  set_field(q, 'rr', chosen[#chosen].s)
  for _, e in ipairs(chosen) do reserve(call, e.id) end
  return true
end

match_caller = function(call)
  -- The caller may have left already, made to by matching earlier in the same request.
  local c = caller(call)
  if c == nil or c.st ~= 'w' then return end
  if not qcfg(c.q).autofill then
    local head = head_of(c.q)
    if head == nil or head.mb ~= c.mb then return end
  end
  offer_to_best(call)
end

match_head = function(q)
  if qcfg(q).autofill then return end
  local head = head_of(q)
  if head then match_caller(head.call) end
end

-- A newly available agent takes the best caller across its queues: weight, then rank.
match_agent = function(a)
  local best, best_weight
  local ix = indexed_places(a)
  -- Any order: candidates never tie (a caller's rank is unique on the site).
  for q, place in pairs(ix) do
    local p = tonumber(string.match(place, '^(%d+)'))
    local cfg = qcfg(q)
    local ignored = penalties_ignored(q)
    local cand
    if cfg.autofill then
      cand = best_for(q, (not ignored) and p or nil)
    else
      local head = head_of(q)
      if head then
        local c = caller(head.call)
        if c.st == 'w' and (ignored or (tonumber(c.wmin) <= p and p <= tonumber(c.wmax))) then
          cand = head
        end
      end
    end
    if cand and (best == nil or cfg.weight > best_weight
        or (cfg.weight == best_weight and rank_lt(cand, best))) then
      best, best_weight = cand, cfg.weight
    end
  end
  if best == nil then return end
  local q = caller(best.call).q
  local indexed = ix[q]
  if indexed then
    set_field(q, 'rr', string.match(indexed, ' (%d+)$'))
  end
  reserve(best.call, a)
end

-- Ends a reservation the agent is not to blame for. The agent rests LEG_TEARDOWN while starq
-- hangs its leg up (the engine that asked for the change ends the rest), or is free at once
-- when there is no leg to hang up.
-- `cause`: 'left' (the caller left) or 'answered' (another agent answered).
cancel_reservation = function(rid, node, leg_to_hang_up, cause)
  local res = reservation(rid)
  if res == nil then return end
  rc('DEL', k_res(rid))
  if caller(res.call) then caller_drop_rid(res.call, rid) end
  journal('cancelled', 'call', res.call, 'queue', res.q, 'agent', res.agent,
    'rang', since(NOW, tonumber(res.created)), 'cause', cause)
  notice('C', rid, res.call, node, res.q, res.agent)
  if leg_to_hang_up then
    set_status(res.agent, 'rest', { 'su', n2s(NOW + LEG_TEARDOWN), 'sw', '0' })
    refresh_agent(res.agent, '0')
  else
    set_status(res.agent, 'idle')
    refresh_agent(res.agent, '0')
    match_agent(res.agent)
  end
end

-- Removes a caller that is not connected: cancels its offers and lets the next become head.
local function remove_waiting_caller(call, outcome)
  local c = caller(call)
  local rids = caller_rids(c)
  caller_del(call, outcome)
  rc('ZREM', k_present(c.q), c.mb)
  if c.st == 'w' then waiting_remove(c.q, c.wmin, c.wmax, c.mb) end
  -- A lost node took its agent legs with it: nothing is left to hang up.
  for _, rid in ipairs(rids) do
    cancel_reservation(rid, c.node, outcome ~= 'nodelost', 'left')
  end
  match_head(c.q)
  return c
end

leave_if_empty = function(q)
  local cfg = qcfg(q)
  if not cfg or cfg.le == 0 then return end
  local leaving = {}
  for _, wk in ipairs(rc('ZRANGE', k_windows(q), '0', '-1')) do
    local wmin, wmax = window_of(wk)
    local empty = empty_verdict(q, cfg.le, wmin, wmax)
    if empty ~= nil then
      local outcome = empty and 'leaveempty' or 'leaveunavail'
      for _, m in ipairs(rc('ZRANGE', k_waiting(q, wk), '0', '-1')) do
        leaving[#leaving + 1] = { string.sub(m, 33), outcome }
      end
    end
  end
  for _, l in ipairs(leaving) do
    local call, outcome = l[1], l[2]
    -- Matching set off by an earlier eviction may already have taken this caller.
    local c = caller(call)
    if c and c.st == 'w' then
      local position = position_of(q, c.mb)
      remove_waiting_caller(call, outcome)
      journal('left', 'call', call, 'queue', q, 'out', outcome, 'pos', n2s(position),
        'opos', c.op, 'hold', since(NOW, c.en))
      N[#N + 1] = { 'E', call, c.node, q, outcome }
    end
  end
end

check_leave_empty = function(a)
  for _, q in ipairs(members_of(a)) do leave_if_empty(q) end
end

local function requeue_if_unoffered(call)
  local c = caller(call)
  if c == nil or c.st ~= 'o' or c.rs then return false end
  caller_set(call, 'st', 'w')
  waiting_insert(c.q, c.wmin, c.wmax, c.sc, c.mb)
  return true
end

-- Frees the agent of a call that ended into its wrap-up: at least LEG_TEARDOWN (core's
-- wrapup_after) when starq still has the agent's leg to hang up, so that hang-up reaches the
-- phone before the next offer rings it.
local function end_call_for_agent(a, q, draw, leg_to_hang_up)
  local cfg = qcfg(q)
  local st = agent_state(a)
  local calls = st['n:' .. q]
  if calls then -- still a member of the queue
    agent_set(a, 'n:' .. q, n2s(tonumber(calls) + 1), 'l:' .. q, NOW_S)
  end
  local wrapup = tonumber(st.wu or '') or cfg.wrapup
  if leg_to_hang_up and wrapup < LEG_TEARDOWN then wrapup = LEG_TEARDOWN end
  if wrapup == 0 then
    set_status(a, 'idle')
  else
    set_status(a, 'rest', { 'su', n2s(NOW + wrapup), 'sw', '1' })
  end
  refresh_agent(a, draw)
  match_agent(a)
end

-- While penalties are ignored in `q`, offers waiting callers, best first, to its agents.
local function fill_if_penalties_ignored(q)
  if not qcfg(q) then return end
  while penalties_ignored(q) do
    if counter(q, 'na') == 0 then return end
    local head = best_for(q, nil)
    if head == nil then return end
    match_caller(head.call)
    local c = caller(head.call)
    if c and c.st == 'w' then return end -- not matchable now (autofill=no, not the head)
  end
end

-- === requests ===

local R = {}

function R.enq(node, a)
  local call, q, cid, prio, wmin, wmax = a[1], a[2], a[3], tonumber(a[4]), tonumber(a[5]),
      tonumber(a[6])
  -- A resumed wait (its first entry lost with an earlier store) ranks from that entry.
  local resumed = a[7] ~= '' and a[7] or nil
  local known = rc('GET', k_caller(call))
  if known then
    if is_caller(known) then return { 'invalid', 'queued', call } end
    return { 'ended', known }
  end
  local cfg = qcfg(q)
  if not cfg then return { 'invalid', 'queue', q } end
  local refusal
  if cfg.maxlen >= 0 and rc('ZCARD', k_present(q)) >= cfg.maxlen then
    refusal = 'full'
  else
    local empty = empty_verdict(q, cfg.je, wmin, wmax)
    if empty ~= nil then refusal = empty and 'joinempty' or 'joinunavail' end
  end
  if refusal then
    mark_ended(call, refusal)
    journal('refused', 'call', call, 'queue', q, 'node', node, 'cid', cid, 'out', refusal)
    return { 'refused', refusal }
  end
  local seq = rc('HINCRBY', k_site(), 'rank', '1')
  local en = resumed or NOW_S
  local member = pad(tonumber(en), 16) .. pad(seq, 16) .. call
  local sc = n2s(-prio)
  rc('ZADD', k_present(q), sc, member)
  local position = position_of(q, member)
  local serving = counter(q, 'ns')
  local c = { q = q, node = node, cid = cid, sc = sc, en = en, mb = member, wmin = n2s(wmin),
    wmax = n2s(wmax), op = n2s(position), st = 'w' }
  CC[call], CD[call] = c, true
  rc('SADD', k_node_calls(node), call)
  if resumed then
    journal('entered', 'call', call, 'queue', q, 'node', node, 'cid', cid, 'pos', n2s(position),
      'resumed', resumed)
  else
    journal('entered', 'call', call, 'queue', q, 'node', node, 'cid', cid, 'pos', n2s(position))
  end
  -- The caller waits, but enters its waiting set only if no agent takes it now: nothing reads
  -- the waiting sets before reserve() takes it (and skips removing it), and a caller taken at
  -- once would be written and removed again for nothing.
  c.unlisted = true
  match_caller(call)
  if c.unlisted then
    c.unlisted = nil
    waiting_insert(q, wmin, wmax, sc, member)
  end
  return { 'joined', position, serving }
end

-- A connected call a store that lost its state no longer holds, found still bridged in
-- Asterisk (board.rs `reconnect`): taken back as connected, its agent on the call (logged in
-- again if the store had it logged out). Nothing is journaled: its entry and its connection
-- were, before the loss.
function R.recon(node, a)
  local call, q, cid, en, ag, rid, since = a[1], a[2], a[3], a[4], a[5], a[6], a[7]
  local known = rc('GET', k_caller(call))
  if known then
    if is_caller(known) then return { 'stale' } end
    return { 'ended', known }
  end
  if not qcfg(q) then return { 'invalid', 'queue', q } end
  local st = agent_state(ag)
  if st == nil then return { 'invalid', 'agent', ag } end
  if st.st == 'res' or st.st == 'call' then return { 'invalid', 'on_call', ag } end
  if st.st == 'out' then agent_set(ag, 'li', since) end
  set_status(ag, 'call', { 'sc', call, 'mi', '0' })
  -- Reservation ids only grow: those made from now on must not meet this one.
  if tonumber(rc('HGET', k_site(), 'res') or '0') < tonumber(rid) then
    rc('HSET', k_site(), 'res', rid)
  end
  local seq = rc('HINCRBY', k_site(), 'rank', '1')
  local member = pad(tonumber(en), 16) .. pad(seq, 16) .. call
  CC[call] = { q = q, node = node, cid = cid, sc = '0', en = en, mb = member, wmin = '0',
    wmax = n2s(4294967295), op = '0', st = 'c', agent = ag, since = since, res = rid }
  CD[call] = true
  rc('SADD', k_node_calls(node), call)
  refresh_agent(ag, '0')
  return { 'confirmed', ag }
end

function R.win(_, a)
  local call, wmin, wmax = a[1], tonumber(a[2]), tonumber(a[3])
  local c = caller(call)
  if c == nil then return { 'stale' } end
  local old_min, old_max = c.wmin, c.wmax
  caller_set(call, 'wmin', n2s(wmin), 'wmax', n2s(wmax))
  if c.st == 'w' then
    waiting_remove(c.q, old_min, old_max, c.mb)
    waiting_insert(c.q, wmin, wmax, c.sc, c.mb)
    match_caller(call)
  end
  return { 'done' }
end

function R.prio(_, a)
  local call, prio = a[1], tonumber(a[2])
  local c = caller(call)
  if c == nil or c.st == 'c' then return { 'stale' } end
  local seq = rc('HINCRBY', k_site(), 'rank', '1')
  local member = pad(c.en, 16) .. pad(seq, 16) .. call
  local sc = n2s(-prio)
  rc('ZREM', k_present(c.q), c.mb)
  rc('ZADD', k_present(c.q), sc, member)
  if c.st == 'w' then
    waiting_remove(c.q, c.wmin, c.wmax, c.mb)
    waiting_insert(c.q, c.wmin, c.wmax, sc, member)
  end
  caller_set(call, 'sc', sc, 'mb', member)
  match_caller(call)
  -- Under `autofill=no` another caller may have become the head.
  match_head(c.q)
  return { 'done' }
end

function R.leave(_, a)
  local call, outcome = a[1], a[2]
  local c = caller(call)
  if c == nil then return { 'stale' } end
  if c.st == 'c' then
    -- A connected call lost (node gone, drain, or a caller whose leave crossed its agent's
    -- answer): the agent is freed as after a hangup, resting while a leg left is hung up.
    caller_del(call, outcome)
    -- The call's end is recorded before the agent, freed, may be offered the next one.
    journal('left', 'call', call, 'queue', c.q, 'out', outcome, 'pos', '0', 'opos', c.op,
      'hold', since(c.since, c.en))
    end_call_for_agent(c.agent, c.q, '0', outcome ~= 'nodelost')
    return { 'done' }
  end
  local position = position_of(c.q, c.mb)
  remove_waiting_caller(call, outcome)
  journal('left', 'call', call, 'queue', c.q, 'out', outcome, 'pos', n2s(position),
    'opos', c.op, 'hold', since(NOW, c.en))
  return { 'done' }
end

function R.ans(_, a)
  local rid = a[1]
  local res = reservation(rid)
  if res == nil then return { 'stale' } end
  rc('DEL', k_res(rid))
  local call = res.call
  local c = caller(call)
  local others = {}
  for _, r in ipairs(caller_rids(c)) do
    if r ~= rid then others[#others + 1] = r end
  end
  caller_set(call, 'st', 'c', 'agent', res.agent, 'since', NOW_S, 'rs', false,
    'res', rid)
  rc('ZREM', k_present(res.q), c.mb)
  set_status(res.agent, 'call', { 'sc', call, 'mi', '0' })
  refresh_agent(res.agent, '0')
  journal('connected', 'call', call, 'queue', res.q, 'agent', res.agent, 'res', rid,
    'hold', since(NOW, c.en), 'rang', since(NOW, tonumber(res.created)))
  for _, other in ipairs(others) do cancel_reservation(other, c.node, true, 'answered') end
  check_leave_empty(res.agent)
  match_head(res.q)
  return { 'confirmed', res.agent }
end

local COUNTS = { noanswer = true, busy = 'ap_busy', unreachable = 'ap_unav', failed = false }

function R.miss(_, a)
  local rid, miss, draw = a[1], a[2], a[3]
  local res = reservation(rid)
  if res == nil then return { 'stale' } end
  rc('DEL', k_res(rid))
  if caller(res.call) then caller_drop_rid(res.call, rid) end
  local cfg = qcfg(res.q)
  local ag = res.agent
  journal('missed', 'call', res.call, 'queue', res.q, 'agent', ag, 'miss', miss,
    'rang', since(NOW, tonumber(res.created)))
  local counts = COUNTS[miss]
  if type(counts) == 'string' then counts = cfg[counts] end
  local misses = tonumber(agent_state(ag).mi or '0')
  if counts then
    misses = misses + 1
    agent_set(ag, 'mi', n2s(misses))
  end
  if cfg.ap_scope ~= '' and counts and misses >= cfg.ap_after then
    agent_set(ag, 'mi', '0')
    if cfg.ap_scope == 'queue' then
      agent_set(ag, 'z:' .. res.q, 'auto')
      journal('paused', 'agent', ag, 'queue', res.q, 'reason', 'auto', 'auto', '1')
    else
      agent_set(ag, 'pa', 'auto')
      journal('paused', 'agent', ag, 'reason', 'auto', 'auto', '1', 'members',
        agent_state(ag).ms or '')
    end
  end
  local rest
  if miss == 'unreachable' then rest = math.max(cfg.retry, UNREACHABLE_RETRY)
  elseif miss == 'noanswer' or miss == 'busy' then rest = math.max(cfg.retry, LEG_TEARDOWN)
  elseif miss == 'failed' then rest = LEG_TEARDOWN
  else rest = cfg.retry end
  if rest and rest > 0 then
    set_status(ag, 'rest', { 'su', n2s(NOW + rest), 'sw', '0' })
  else
    set_status(ag, 'idle')
  end
  refresh_agent(ag, draw)
  -- The caller waits again before anyone is matched, so that an agent freed here picks the
  -- best caller, this one included, and the caller only then looks for an agent.
  local requeued = requeue_if_unoffered(res.call)
  check_leave_empty(ag)
  match_agent(ag)
  if requeued then
    match_caller(res.call)
    -- A caller nobody can take may have to leave now.
    leave_if_empty(res.q)
  end
  return { 'done' }
end

function R.ext(_, a)
  local c = caller(a[1])
  if c == nil or c.st ~= 'o' then return { 'stale' } end
  offer_to_best(a[1])
  return { 'done' }
end

function R.hang(_, a)
  local call, by, draw = a[1], a[2], a[3]
  local c = caller(call)
  if c == nil or c.st ~= 'c' then return { 'stale' } end
  caller_del(call, 'completed-' .. by)
  journal('completed', 'call', call, 'queue', c.q, 'agent', c.agent, 'by', by,
    'hold', since(c.since, c.en), 'talk', since(NOW, c.since), 'opos', c.op)
  end_call_for_agent(c.agent, c.q, draw, by == 'caller')
  return { 'done' }
end

function R.ready(_, a)
  local ag, draw = a[1], a[2]
  local st = agent_state(ag)
  if st == nil or st.st ~= 'rest' or tonumber(st.su) > NOW then return { 'stale' } end
  set_status(ag, 'idle')
  refresh_agent(ag, draw)
  match_agent(ag)
  return { 'done' }
end
