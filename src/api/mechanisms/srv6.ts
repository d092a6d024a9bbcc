/** SRV6 mechanism (upstream `api/pkg/api/networkservice/mechanisms/srv6`): segment-routing SIDs and MACs of both sides. */
import { mechType } from "./common.js";
import { tunnelParams } from "./tunnel.js";

export const MECHANISM = mechType.SRV6;
export const keys = {
  SRC_HOST_IP: "src_host_ip",
  DST_HOST_IP: "dst_host_ip",
  SRC_BSID: "src_bsid",
  DST_BSID: "dst_bsid",
  SRC_LOCAL_SID: "src_localsid",
  DST_LOCAL_SID: "dst_localsid",
  SRC_HOST_LOCAL_SID: "src_host_localsid",
  DST_HOST_LOCAL_SID: "dst_host_localsid",
  SRC_HW_ADDR: "src_hw_addr",
  DST_HW_ADDR: "dst_hw_addr",
} as const;

const p = tunnelParams(MECHANISM);
export const [srcHostIp, setSrcHostIp] = p.str(keys.SRC_HOST_IP);
export const [dstHostIp, setDstHostIp] = p.str(keys.DST_HOST_IP);
export const [srcBsid, setSrcBsid] = p.str(keys.SRC_BSID);
export const [dstBsid, setDstBsid] = p.str(keys.DST_BSID);
export const [srcLocalSid, setSrcLocalSid] = p.str(keys.SRC_LOCAL_SID);
export const [dstLocalSid, setDstLocalSid] = p.str(keys.DST_LOCAL_SID);
export const [srcHostLocalSid, setSrcHostLocalSid] = p.str(keys.SRC_HOST_LOCAL_SID);
export const [dstHostLocalSid, setDstHostLocalSid] = p.str(keys.DST_HOST_LOCAL_SID);
export const [srcHwAddr, setSrcHwAddr] = p.str(keys.SRC_HW_ADDR);
export const [dstHwAddr, setDstHwAddr] = p.str(keys.DST_HW_ADDR);
