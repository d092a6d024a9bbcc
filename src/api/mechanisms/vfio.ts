/** VFIO mechanism (upstream `api/pkg/api/networkservice/mechanisms/vfio`): a PCI device handed to the workload through /dev/vfio. */
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, commonKeys, getParam, mechType, newMechanism, parseUint } from "./common.js";
import type { MechanismHolder } from "./common.js";

export const MECHANISM = mechType.VFIO;
export const keys = {
  CGROUP_DIR: "cgroupDir",
  IOMMU_GROUP: "iommuGroup",
  PCI_ADDRESS: commonKeys.PCI_ADDRESS,
  TOKEN_ID: commonKeys.TOKEN_ID,
  VFIO_MAJOR: "vfioMajor",
  VFIO_MINOR: "vfioMinor",
  DEVICE_MAJOR: "deviceMajor",
  DEVICE_MINOR: "deviceMinor",
} as const;

/** Upstream `vfio.New(cgroupDir)`: cls LOCAL, type VFIO. */
export function newVfio(cgroupDir: string): Mechanism {
  return newMechanism(cls.LOCAL, MECHANISM, { [keys.CGROUP_DIR]: cgroupDir });
}
export const cgroupDirOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.CGROUP_DIR);
export const iommuGroupOf = (x: MechanismHolder | undefined) => parseUint(getParam(x, MECHANISM, keys.IOMMU_GROUP), 32);
export const pciAddressOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.PCI_ADDRESS);
export const tokenIdOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.TOKEN_ID);
