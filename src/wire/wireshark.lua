-- Wireshark/tshark dissector for l2tpagg's vendor AVPs (RFC 2661 §4.1 layout, M=0, attribute types
-- 40-42 under Vendor ID @VENDOR_ID@). Without it Wireshark shows them as "Undecoded: Vendor-Specific
-- AVP data". Load with `tshark -X lua_script:l2tpagg.lua` or drop it into Wireshark's plugin folder.
local VENDOR_ID = @VENDOR_ID@

local p = Proto("l2tpagg", "l2tpagg vendor AVP")

local avp_types = { [40] = "Capabilities", [41] = "Switchover", [42] = "Disconnect Cause" }
local causes = {
  [1] = "Session moved", [2] = "Automatic disconnect", [3] = "Administrative", [4] = "Shutdown",
  [5] = "Subscriber left", [6] = "Authentication failed", [7] = "Switchover failed",
  [8] = "Resource exhausted",
}

local f_mandatory = ProtoField.bool("l2tpagg.mandatory", "Mandatory", 16, nil, 0x8000)
local f_hidden = ProtoField.bool("l2tpagg.hidden", "Hidden", 16, nil, 0x4000)
local f_length = ProtoField.uint16("l2tpagg.length", "Length", base.DEC, nil, 0x03ff)
local f_vendor = ProtoField.uint16("l2tpagg.vendor_id", "Vendor ID", base.DEC)
local f_type = ProtoField.uint16("l2tpagg.type", "Attribute Type", base.DEC, avp_types)
local f_caps = ProtoField.uint32("l2tpagg.capabilities", "Capabilities", base.HEX)
local f_cap_move = ProtoField.bool("l2tpagg.capabilities.live_session_move", "Live session move", 32, nil, 0x1)
local f_cap_cause = ProtoField.bool("l2tpagg.capabilities.disconnect_cause", "Disconnect cause", 32, nil, 0x2)
local f_old_tunnel = ProtoField.uint16("l2tpagg.switchover.old_tunnel_id", "Old tunnel ID", base.DEC)
local f_old_session = ProtoField.uint16("l2tpagg.switchover.old_session_id", "Old session ID", base.DEC)
local f_token = ProtoField.uint64("l2tpagg.switchover.token", "Move token", base.HEX)
local f_cause = ProtoField.uint16("l2tpagg.cause.code", "Cause", base.DEC, causes)
local f_detail = ProtoField.uint32("l2tpagg.cause.detail", "Detail (RADIUS Acct-Terminate-Cause)", base.DEC)
local f_text = ProtoField.string("l2tpagg.cause.text", "Text")
local f_value = ProtoField.bytes("l2tpagg.value", "Value")

p.fields = { f_mandatory, f_hidden, f_length, f_vendor, f_type, f_caps, f_cap_move, f_cap_cause,
  f_old_tunnel, f_old_session, f_token, f_cause, f_detail, f_text, f_value }

function p.dissector(tvb, pinfo, tree)
  if tvb:len() < 6 then return 0 end
  local flags = tvb(0, 2):uint()
  local len = flags % 1024
  if len < 6 or len > tvb:len() then return 0 end
  local attr = tvb(4, 2):uint()
  local name = avp_types[attr] or ("Unknown (" .. attr .. ")")
  local t = tree:add(p, tvb(0, len), "Vendor l2tpagg (" .. VENDOR_ID .. "): " .. name .. " AVP")
  t:add(f_mandatory, tvb(0, 2))
  t:add(f_hidden, tvb(0, 2))
  t:add(f_length, tvb(0, 2))
  t:add(f_vendor, tvb(2, 2))
  t:add(f_type, tvb(4, 2))
  local vlen = len - 6
  if flags >= 0x4000 and (flags % 0x8000) >= 0x4000 then
    if vlen > 0 then t:add(f_value, tvb(6, vlen)):append_text(" (hidden)") end
    return len
  end
  if attr == 40 and vlen == 4 then
    local c = t:add(f_caps, tvb(6, 4))
    c:add(f_cap_move, tvb(6, 4))
    c:add(f_cap_cause, tvb(6, 4))
  elseif attr == 41 and vlen == 12 then
    t:add(f_old_tunnel, tvb(6, 2))
    t:add(f_old_session, tvb(8, 2))
    t:add(f_token, tvb(10, 8))
  elseif attr == 42 and vlen >= 6 then
    t:add(f_cause, tvb(6, 2))
    t:add(f_detail, tvb(8, 4))
    if vlen > 6 then t:add(f_text, tvb(12, vlen - 6)) end
  elseif vlen > 0 then
    t:add(f_value, tvb(6, vlen))
  end
  return len
end

DissectorTable.get("l2tp.vendor_avp"):add(VENDOR_ID, p)
