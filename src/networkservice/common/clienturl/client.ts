/** clientUrlClient: the next hop is `url` when one is given; otherwise whatever the context already says. */
import type { ClientElement } from "../../../core/index.js";
import { CLIENT_URL } from "../../utils/keys.js";

export function clientUrlClient(url: string | undefined): ClientElement {
  if (!url) return {};
  return {
    request: (req, ctx, next) => next.request(req, ctx.withValue(CLIENT_URL, url)),
    close: (conn, ctx, next) => next.close(conn, ctx.withValue(CLIENT_URL, url)),
  };
}
