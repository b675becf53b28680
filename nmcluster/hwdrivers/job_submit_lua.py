"""Render the site's ``job_submit.lua``: Slurm's Lua job-submit plugin enforcing nmcluster's hardware rules
on every job, including plain ``sbatch``/``srun``/``salloc`` that never went through nmcluster.

Debian ships the plugin in ``slurm-wlm-basic-plugins`` (``job_submit_lua.so``, linked against Lua 5.1); it
is enabled with ``JobSubmitPlugins=lua`` in slurm.conf and loads ``job_submit.lua`` from the directory of
slurm.conf, reloading it when the file changes.  The API followed is Slurm 22.05.8's (SchedMD/slurm tag
``slurm-22-05-8-1``): ``contribs/lua/job_submit.lua`` (``slurm_job_submit(job_desc, part_list,
submit_uid)``, ``slurm_job_modify(job_desc, job_rec, part_list, modify_uid)``, return ``slurm.SUCCESS``
or an error code), ``src/plugins/job_submit/lua/job_submit_lua.c`` (the ``job_desc`` fields ``partition``,
``licenses``, ``tres_per_node`` (what ``--gres`` sets), ``tres_per_job``/``_socket``/``_task``,
``cpus_per_tres``, ``mem_per_tres``, ``min_nodes``; ``slurm.log_user`` for the message the user sees),
``src/lua/slurm_lua.c`` (``job_rec`` fields for modifications; ``slurm.ESLURM_ACCESS_DENIED``,
``slurm.NO_VAL``) and ``src/slurmctld/licenses.c`` ``_build_license_list`` (licences split at ``,`` or
``;``, ``name[:count]``, counts of a repeated name add up, names case-sensitive).

The rules (what nmcluster's partitions derive, and nothing else):

* a job naming a hardware partition (spikey, wafer, spinnaker) names only that partition;
* spikey: exactly one Spikey station GRES, ``station:1`` (any) or ``station:s<N>:1`` with N a station of
  the site's inventory, on at most one node; no hardware licences;
* wafer: at least one FPGA licence ``W<w>F<f>``, each of the one wafer w, each configured (and not marked
  unavailable) at the site, each once; no station GRES, no board licence;
* spinnaker: the board licence with 1..(number of boards) (none when spalloc arbitrates the boards); no
  wafer licence, no station GRES;
* every other partition (the default batch partition, where the ESS runs, and any site partition): no
  wafer or board licence and no station GRES at all; a station named anywhere but ``--gres`` (tres per
  job/socket/task, ``--cpus-per-gpu``-style fields) is refused on every partition;
* ``scontrol update`` of a pending job is held to the same rules (the new values merged with the job's).

What this cannot tell apart (the honest limit): nmcluster runs as the user, so nothing it puts into a job
(comment, name, environment) is a secret the user could not write into a plain ``sbatch`` too.  The rules
therefore judge what a job asks for, not who wrote the request: ``sbatch -p wafer -L W33F1`` is accepted,
exactly like ``nmcluster submit -p wafer --wafer 33 --fpga 1`` which derives the same licence.  What a job
then does with the network or the USB bus of its node is outside Slurm's reach (FPGA and device
permissions must hold that line).  The uids in ``exempt_uids`` (root by default; add SlurmUser) are not
checked, so admins can still place anything by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from nmcluster.config import SiteConfig
from nmcluster.errors import ConfigError

#: partition kinds whose jobs must carry (and alone may carry) a hardware resource
HARDWARE_KINDS = ("spikey", "wafer", "spinnaker")


def _lua_string(text: str) -> str:
    """A Lua string literal (site names are validated, but quote anyway)."""
    return '"' + "".join(c if c.isalnum() or c in "_-.:/ " else f"\\{ord(c)}" for c in text) + '"'


def _lua_set(items: Iterable[str]) -> str:
    body = ", ".join(f"[{_lua_string(i)}] = true" for i in items)
    return "{ " + body + " }" if body else "{}"


def render_job_submit_lua(config: SiteConfig, exempt_uids: Iterable[int] = (0,)) -> str:
    """The text of ``job_submit.lua`` for ``config`` (see the module docstring for the rules)."""
    from nmcluster.hwdrivers.spikey import STATION_GRES
    from nmcluster.hwdrivers.wafer.geometry import license_name
    from nmcluster.hwdrivers.wafer.licenses import site_without_unavailable_fpgas

    config = site_without_unavailable_fpgas(config)
    uids = sorted({int(u) for u in exempt_uids})
    if any(u < 0 for u in uids):
        raise ConfigError(f"job_submit.lua: exempt uids must be >= 0, got {uids}")
    default = config.slurm.default_partition
    names: dict[str, str] = {}
    for kind in HARDWARE_KINDS:
        part = config.partitions.get(kind)
        if part is None:
            continue
        name = part.slurm_partition
        if name == default or name in names.values():
            raise ConfigError(f"job_submit.lua: the {kind} partition's Slurm partition {name!r} is shared with "
                              f"another partition; hardware partitions must be distinct from each other and "
                              f"from the default partition {default!r}")
        names[kind] = name
    wafer_licences = {license_name(w, f): w for w in sorted(config.wafers) for f in config.wafers[w].fpgas}
    spinnaker = config.partitions.get("spinnaker")
    board_licence = "" if config.spalloc.configured or spinnaker is None else spinnaker.board_license
    board_count = len(config.boards) if board_licence else 0
    stations = [config.stations[n].gres_type for n in sorted(config.stations)]

    def part(kind: str) -> str:
        return _lua_string(names[kind]) if kind in names else "nil"

    header = f"""\
-- job_submit.lua: nmcluster's hardware rules for every job (Slurm job_submit/lua plugin, Lua 5.1)
-- generated by `nmcluster admin slurm-conf --only lua` from the site config {config.source}; do not edit:
-- re-render it when stations, wafers or boards change (slurmctld reloads it when the file changes).
-- Needs JobSubmitPlugins=lua in slurm.conf; this file lives next to slurm.conf.
-- Rules: a hardware partition's job names only that partition and carries exactly the resource that
-- nmcluster derives for it; hardware resources are refused on every other partition.  Jobs of the
-- exempt uids are not checked.  What the rules cannot tell apart: see nmcluster/hwdrivers/job_submit_lua.py.

local DEFAULT_PARTITION = {_lua_string(default)}
local SPIKEY_PARTITION = {part("spikey")}
local WAFER_PARTITION = {part("wafer")}
local SPINNAKER_PARTITION = {part("spinnaker")}
local STATION_GRES = {_lua_string(STATION_GRES)}
local STATIONS = {_lua_set(stations)}
local WAFER_LICENSES = {{ {", ".join(f"[{_lua_string(n)}] = {w}" for n, w in wafer_licences.items())} }}
local BOARD_LICENSE = {_lua_string(board_licence)}
local BOARDS = {board_count}
local EXEMPT_UIDS = {{ {", ".join(f"[{u}] = true" for u in uids)} }}
"""
    return header + _LUA_BODY


_LUA_BODY = r'''
local HARDWARE = {}
if SPIKEY_PARTITION then HARDWARE[SPIKEY_PARTITION] = "spikey" end
if WAFER_PARTITION then HARDWARE[WAFER_PARTITION] = "wafer" end
if SPINNAKER_PARTITION then HARDWARE[SPINNAKER_PARTITION] = "spinnaker" end
local NO_VAL = slurm.NO_VAL or 4294967294

local function tokens(text, seps)
  local out = {}
  if text == nil then return out end
  for tok in string.gmatch(text, "[^" .. seps .. "]+") do out[#out + 1] = tok end
  return out
end

local function station_list()
  local out = {}
  for name, _ in pairs(STATIONS) do out[#out + 1] = name end
  table.sort(out)
  return table.concat(out, ", ")
end

-- licences as slurmctld's _build_license_list reads them: name[:count], split at ',' or ';'
local function parse_licenses(text)
  local wafer, board, counts = {}, 0, {}
  for _, tok in ipairs(tokens(text, ",;")) do
    if string.find(tok, "%s") then return nil, "malformed licence list" end
    local name, count = string.match(tok, "^([^:]*):(.*)$")
    if name == nil then name, count = tok, "1" end
    if not string.match(count, "^%+?%d+$") then return nil, "malformed licence count in " .. tok end
    count = tonumber((string.gsub(count, "^%+", "")))
    counts[name] = (counts[name] or 0) + count
  end
  for name, count in pairs(counts) do
    -- a licence that is not in the site's Licenses= line (W99F1) is refused by slurmctld itself
    -- ("Invalid license specification"): Licenses= and this file are rendered together
    if WAFER_LICENSES[name] ~= nil then
      wafer[#wafer + 1] = { name = name, count = count, wafer = WAFER_LICENSES[name] }
    elseif BOARD_LICENSE ~= "" and string.lower(name) == string.lower(BOARD_LICENSE) then
      board = board + count
    end
  end
  table.sort(wafer, function(a, b) return a.name < b.name end)
  return { wafer = wafer, board = board }, nil
end

-- station GRES in a tres_per_node string ("gres:station:s500:1", "gres/station:1", "station:s500", ...)
local function parse_stations(text)
  local out = {}
  for _, tok in ipairs(tokens(text, ",")) do
    local t = string.gsub(tok, "^[Gg][Rr][Ee][Ss][:/]", "")
    local fields = tokens(t, ":")
    if fields[1] ~= nil and string.lower(fields[1]) == STATION_GRES then
      local kind, count = nil, nil
      if #fields == 1 then count = 1
      elseif #fields == 2 and string.match(fields[2], "^%d+$") then count = tonumber(fields[2])
      elseif #fields == 2 then kind, count = fields[2], 1
      elseif #fields == 3 and string.match(fields[3], "^%d+$") then kind, count = fields[2], tonumber(fields[3])
      else return nil, "malformed station GRES " .. tok end
      out[#out + 1] = { type = kind, count = count }
    end
  end
  return out, nil
end

local function mentions_station(text)
  return text ~= nil and string.find(string.lower(text), STATION_GRES, 1, true) ~= nil
end

-- nil when the request keeps the rules, else the message for the user
local function check(partition, licenses, tres_per_node, other_tres, min_nodes)
  local parts = tokens(partition, ", ")
  if #parts == 0 then parts = { DEFAULT_PARTITION } end
  local hw, hw_part = nil, nil
  for _, p in ipairs(parts) do
    if HARDWARE[p] then hw, hw_part = HARDWARE[p], p end
  end
  if hw and #parts > 1 then
    return "a job on the " .. hw_part .. " partition must name only that partition (-p " .. hw_part .. ")"
  end
  local lic, err = parse_licenses(licenses)
  if lic == nil then return err end
  local st
  st, err = parse_stations(tres_per_node)
  if st == nil then return err end
  for _, field in ipairs(other_tres) do
    if mentions_station(field) then
      return "a Spikey station is requested only with --gres=" .. STATION_GRES .. ":s<N>:1 on the " ..
             (SPIKEY_PARTITION or "spikey") .. " partition"
    end
  end
  local where = hw_part or parts[1]
  if hw ~= "spikey" and #st > 0 then
    return "station GRES is only for the " .. (SPIKEY_PARTITION or "spikey") .. " partition, not " .. where
  end
  if hw ~= "wafer" and #lic.wafer > 0 then
    return "wafer licences (" .. lic.wafer[1].name .. ") are only for the " .. (WAFER_PARTITION or "wafer") ..
           " partition, not " .. where
  end
  if hw ~= "spinnaker" and lic.board > 0 then
    return "SpiNNaker board licences are only for the " .. (SPINNAKER_PARTITION or "spinnaker") ..
           " partition, not " .. where
  end
  if hw == "spikey" then
    if #st ~= 1 or st[1].count ~= 1 then
      return "a job on the " .. where .. " partition needs exactly one Spikey station: --gres=" ..
             STATION_GRES .. ":1 (any) or --gres=" .. STATION_GRES .. ":s<N>:1 (N: " .. station_list() .. ")"
    end
    if st[1].type ~= nil and not STATIONS[st[1].type] then
      return "station " .. st[1].type .. " is not a station of this site (" .. station_list() .. ")"
    end
    if min_nodes ~= nil and min_nodes ~= NO_VAL and min_nodes > 1 then
      return "a job on the " .. where .. " partition runs on one node (one station)"
    end
  elseif hw == "wafer" then
    if #lic.wafer == 0 then
      return "a job on the " .. where .. " partition needs the licences of its FPGAs (-L W<wafer>F<fpga>; " ..
             "nmcluster submit -p wafer --wafer W --hicann H derives them)"
    end
    local first = nil
    for _, l in ipairs(lic.wafer) do
      if l.count ~= 1 then
        return "licence " .. l.name .. " is requested " .. l.count .. " times; an FPGA is held once"
      end
      if first ~= nil and l.wafer ~= first then
        return "a job holds FPGAs of one wafer only (" .. first .. " and " .. l.wafer .. " requested)"
      end
      first = l.wafer
    end
  elseif hw == "spinnaker" then
    if BOARD_LICENSE ~= "" and (lic.board < 1 or lic.board > BOARDS) then
      return "a job on the " .. where .. " partition needs -L " .. BOARD_LICENSE .. ":N with N from 1 to " ..
             BOARDS .. " (nmcluster submit -p spinnaker --boards N)"
    end
    if BOARD_LICENSE == "" and lic.board > 0 then
      return "SpiNNaker boards are handed out by spalloc at this site, not by a Slurm licence"
    end
  end
  return nil
end

local function refuse(msg, uid)
  slurm.log_info("nmcluster job_submit: refused a job of uid %s: %s", tostring(uid), msg)
  slurm.log_user("%s", "nmcluster site rules: " .. msg)
  return slurm.ESLURM_ACCESS_DENIED or slurm.ERROR
end

function slurm_job_submit(job_desc, part_list, submit_uid)
  if EXEMPT_UIDS[submit_uid] then return slurm.SUCCESS end
  local msg = check(job_desc.partition, job_desc.licenses, job_desc.tres_per_node,
                    { job_desc.tres_per_job, job_desc.tres_per_socket, job_desc.tres_per_task,
                      job_desc.cpus_per_tres, job_desc.mem_per_tres }, job_desc.min_nodes)
  if msg then return refuse(msg, submit_uid) end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  if EXEMPT_UIDS[modify_uid] then return slurm.SUCCESS end
  local function pick(field)
    local v = job_desc[field]
    if v == nil then v = job_rec[field] end
    return v
  end
  local min_nodes = job_desc.min_nodes
  if min_nodes == nil or min_nodes == NO_VAL then min_nodes = job_rec.min_nodes end
  local msg = check(pick("partition"), pick("licenses"), pick("tres_per_node"),
                    { pick("tres_per_job"), pick("tres_per_socket"), pick("tres_per_task"),
                      pick("cpus_per_tres"), pick("mem_per_tres") }, min_nodes)
  if msg then return refuse(msg, modify_uid) end
  return slurm.SUCCESS
end

slurm.log_info("nmcluster job_submit.lua loaded")
return slurm.SUCCESS
'''
