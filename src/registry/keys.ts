/** Values registry elements hand to later elements (upstream's clienturlctx for registries). */
import { ctxKey } from "../core/index.js";

/** Where the next registry is (a tcp:// or unix:// href): set by dnsresolve, used by connect. */
export const REGISTRY_URL = ctxKey<string>("registry/clienturl");
