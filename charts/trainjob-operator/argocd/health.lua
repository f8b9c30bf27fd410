-- Argo CD health check of a TrainJob (trainjob.dev/v1alpha1), for argocd-cm's
-- resource.customizations.health.trainjob.dev_TrainJob (see argocd-cm-patch.yaml beside it).
-- Reads the kstatus-style summary conditions the operator keeps (Ready, Reconciling, Stalled)
-- and the phase: Succeeded is Healthy, Failed is Degraded, a suspended job is Suspended, and
-- anything on its way (no status yet, Pending, Created, Running, Restarting) is Progressing.
-- Lua 5.1, as Argo CD runs it (gopher-lua).

local hs = { status = "Progressing", message = "Waiting for the operator" }

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function holds(status, kind)
  local c = condition(status, kind)
  return c ~= nil and c.status == "True"
end

local function progress(status)
  local p = status.progress
  if p == nil or p.epoch == nil or p.totalEpochs == nil then
    return ""
  end
  local text = " (epoch " .. math.floor(p.epoch) .. "/" .. math.floor(p.totalEpochs)
  if p.percent ~= nil then
    text = text .. ", " .. math.floor(p.percent) .. "%"
  end
  return text .. ")"
end

local function message(status, kind)
  local c = condition(status, kind)
  local text = status.phase or ""
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text .. progress(status)
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status == nil or status.phase == nil then
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. math.floor(generation)
  return hs
end

if holds(status, "Ready") or status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message(status, "Ready")
elseif holds(status, "Stalled") or status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message(status, "Stalled")
elseif holds(status, "Suspended") or status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = message(status, "Suspended")
else
  hs.status = "Progressing"
  hs.message = message(status, "Reconciling")
end
return hs
