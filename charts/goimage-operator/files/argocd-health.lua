-- Argo CD health check for goimage.dev/GoImageBuild.
-- Install as argocd-cm key: resource.customizations.health.goimage.dev_GoImageBuild
-- Plain Lua 5.1 (Argo CD runs gopher-lua): `obj` is the resource, the result
-- is {status = ..., message = ...}.
--
--   no status yet                         Progressing
--   status.observedGeneration behind      Progressing (the operator has not seen the spec)
--   phase Failed (or Stalled=True)        Degraded, "<failure.reason>: <failure.message>"
--   Ready=True                            Healthy, the pushed image and its size
--   phase Pending or Building, or else    Progressing, the Ready condition's message
local hs = {}

local function condition(status, type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local status = obj.status
if status == nil or next(status) == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the build"
  return hs
end

local ready = condition(status, "Ready")
local generation = obj.metadata.generation
local observed = status.observedGeneration
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status, "Stalled")
if status.phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  local reason = "Failed"
  local message = ""
  if status.failure ~= nil then
    reason = status.failure.reason or reason
    message = status.failure.message or ""
  end
  if message == "" and ready ~= nil then
    reason = ready.reason or reason
    message = ready.message or ""
  end
  hs.status = "Degraded"
  if message ~= "" then
    hs.message = reason .. ": " .. message
  else
    hs.message = reason
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  local message = status.image or ready.message or "Built"
  if status.sizeHuman ~= nil then
    message = message .. " (" .. status.sizeHuman .. ")"
  end
  hs.message = message
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
else
  hs.message = "Build " .. (status.phase or "pending")
end
return hs
