/** trimPathClient: tells the trimPathServer of this process that the path goes on past us. */
import type { ClientElement } from "../../../core/index.js";
import { TRIM } from "../../utils/keys.js";

export function trimPathClient(): ClientElement {
  return {
    async request(req, ctx, next) {
      const mark = ctx.get(TRIM);
      if (mark) mark.keep = true;
      return next.request(req, ctx);
    },
  };
}
