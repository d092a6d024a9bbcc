/** VLAN mechanism (upstream `api/pkg/api/networkservice/mechanisms/vlan`): one key, `vlan-id` (note the hyphen), 12-bit decimal. */
import { mechType } from "./common.js";
import { tunnelParams } from "./tunnel.js";

export const MECHANISM = mechType.VLAN;
export const keys = { VLAN_ID: "vlan-id" } as const;
/** 0..4095; out of range or invalid reads as 0. */
export const [vlanId, setVlanId] = tunnelParams(MECHANISM).num(keys.VLAN_ID, 12);
