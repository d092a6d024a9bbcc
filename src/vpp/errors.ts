/**
 * A VPP API call that VPP answered with a negative retval: names the message, the retval and its
 * meaning from VPP's error table (vnet/error.h, generated into gen/errors.ts).
 *
 *   VPP tap_create_v3 failed: retval -13 SYSCALL_ERROR_3 (System call error #3)
 */
import { NsmError, status } from "../tools/errors.js";
import { VPP_ERRORS } from "./gen/errors.js";

/** "SYSCALL_ERROR_3 (System call error #3)" for -13; "unknown error" for a value not in the table. */
export function vppErrorText(retval: number): string {
  const e = VPP_ERRORS.get(retval);
  return e ? `${e[0]} (${e[1]})` : "unknown error";
}

export class VppApiError extends NsmError {
  constructor(
    readonly msgName: string,
    readonly retval: number,
  ) {
    super(status.INTERNAL, `VPP ${msgName} failed: retval ${retval} ${vppErrorText(retval)}`);
    this.name = "VppApiError";
  }
  /** the VPP error symbol, e.g. "INVALID_SW_IF_INDEX" */
  get symbol(): string | undefined {
    return VPP_ERRORS.get(this.retval)?.[0];
  }
}
