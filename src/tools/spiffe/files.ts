/**
 * An X.509 SVID from PEM files (what spiffe-helper or cert-manager write): the certificate chain,
 * the PKCS#8 key and the trust bundle, re-read when any of them changes (fs.watch on their
 * directory, debounced; a half-written set is ignored until it parses).
 *
 *   const src = fileSource({ cert: "/run/svid/svid.pem", key: "/run/svid/svid_key.pem", bundle: "/run/svid/bundle.pem" });
 */
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { NsmError, messageOf, status } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { makeSvid, pemToDer, SourceState, type X509Source } from "./svid.js";

export interface FileSourceOptions {
  cert: string;
  key: string;
  bundle: string;
  log?: Logger;
}

export function fileSource(o: FileSourceOptions): X509Source {
  const log = (o.log ?? silentLogger).child({ spiffe: "files" });
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const state = new SourceState(() => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  });
  const load = () => {
    const chain = pemToDer(readFileSync(o.cert, "utf8"));
    const svid = makeSvid(chain, readFileSync(o.key, "utf8"));
    const bundle = readFileSync(o.bundle, "utf8");
    if (!pemToDer(bundle).length) throw new NsmError(status.INVALID_ARGUMENT, `${o.bundle}: no certificate`);
    state.set(svid, bundle);
    return svid;
  };
  try {
    load();
  } catch (e) {
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `cannot load the SVID from ${o.cert}, ${o.key}, ${o.bundle}: ${messageOf(e)}`,
      {
        cause: e,
      },
    );
  }
  const names = new Set([o.cert, o.key, o.bundle].map((p) => basename(p)));
  for (const dir of new Set([o.cert, o.key, o.bundle].map((p) => dirname(p)))) {
    const w = watch(dir, (_ev, file) => {
      if (file && !names.has(String(file))) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          const s = load();
          log.info({ id: s.id, notAfter: s.notAfter.toISOString() }, "X.509 SVID reloaded from files");
        } catch (e) {
          log.warn({ err: messageOf(e) }, "SVID files changed but do not load (yet); keeping the previous SVID");
        }
      }, 50);
      timer.unref();
    });
    w.unref();
    watchers.push(w);
  }
  return state;
}
