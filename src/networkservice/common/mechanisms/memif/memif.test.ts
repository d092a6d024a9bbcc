import { test } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { clone, cls, kernel, memif, MechanismSchema, newMechanism } from "../../../../api/index.js";
import { chain } from "../../../../core/index.js";
import { checkRequest, newRequest, testCtx } from "../../../../core/testing/index.js";
import { memifMechanismClient } from "./client.js";
import { memifMechanismServer } from "./server.js";

test(
  "memif client fills our netns into an offered MEMIF preference and offers one when asked to",
  { timeout: 5000 },
  async () => {
    const seen: string[][] = [];
    const spy = checkRequest((r) =>
      seen.push(r.mechanismPreferences.map((m) => `${m.type} ${memif.inodeUrlOf(m) ?? kernel.netnsUrlOf(m) ?? ""}`)),
    );
    const req = newRequest("c1");
    req.mechanismPreferences = [newMechanism(cls.LOCAL, memif.MECHANISM, { name: "nsm-1" })];
    await chain(memifMechanismClient({ netnsUrl: "file:///run/netns/blue", offer: false }) as never, spy).request(
      req,
      testCtx(),
    );
    assert.deepEqual(seen[0], ["MEMIF file:///run/netns/blue"]);

    const none = newRequest("c2");
    await chain(memifMechanismClient({ netnsUrl: "file:///run/netns/blue", offer: false }) as never, spy).request(
      none,
      testCtx(),
    );
    assert.deepEqual(seen[1], []);
    await chain(memifMechanismClient() as never, spy).request(newRequest("c3"), testCtx());
    assert.deepEqual(seen[2], [`MEMIF file:///proc/${process.pid}/ns/net`]);
    await chain(memifMechanismClient({ socketPath: "/run/x/memif.sock" }) as never, spy).request(
      newRequest("c4"),
      testCtx(),
    );
    assert.deepEqual(seen[3], ["MEMIF file:///run/x/memif.sock"]);
  },
);

test("memif client keeps the chosen mechanism's parameters on a refresh", { timeout: 5000 }, async () => {
  let got: Record<string, string> = {};
  const req = newRequest("c1");
  req.connection!.mechanism = newMechanism(cls.LOCAL, memif.MECHANISM, {
    socketfile: "@/tmp/memif/c1/memif.socket",
    inodeURL: "file:///run/netns/red",
  });
  const before = clone(MechanismSchema, req.connection!.mechanism);
  await chain(
    memifMechanismClient({ netnsUrl: "file:///run/netns/blue" }) as never,
    checkRequest((r) => {
      got = { ...r.connection!.mechanism!.parameters };
    }),
  ).request(req, testCtx());
  assert.deepEqual(got, before.parameters);
});

test("memif server names upstream's abstract socket in its own netns", { timeout: 5000 }, async () => {
  let got: Record<string, string> = {};
  const req = newRequest("conn-7");
  req.connection!.mechanism = newMechanism(cls.LOCAL, memif.MECHANISM);
  await chain(
    memifMechanismServer({ netnsUrl: "file:///run/netns/nse" }),
    checkRequest((r) => {
      got = { ...r.connection!.mechanism!.parameters };
    }),
  ).request(req, testCtx());
  assert.deepEqual(got, { inodeURL: "file:///run/netns/nse", socketfile: `@${tmpdir()}/memif/conn-7/memif.socket` });
});
