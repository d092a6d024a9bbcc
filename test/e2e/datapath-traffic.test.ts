// Root only: traffic across what the library builds — veth, vxlan, wireguard-go — between
// fresh namespaces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { generateKeyPair, publicKeyOf, WireguardDevice } from "../../src/datapath/index.js";
import { ipJson, ping, rootSkip, sandbox, type Sandbox } from "../../src/datapath/testing/index.js";

const skip = rootSkip;
const hasWgGo = (() => {
  try {
    execFileSync("sh", ["-c", "command -v wireguard-go && command -v nsenter"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Two namespaces joined by a veth underlay made by the library: a=192.0.2.1, b=192.0.2.2. */
async function pair(sb: Sandbox) {
  const a = sb.netns(),
    b = sb.netns();
  await a.ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "u0", up: true }, peer: { name: "u1", netns: b.ns, up: true } })
    .addrAdd({ link: "u0", cidr: "192.0.2.1/24" })
    .addrAdd({ link: "u0", cidr: "fd00:2::1/64" })
    .commit();
  await b.ns
    .batch()
    .addrAdd({ link: "u1", cidr: "192.0.2.2/24" })
    .addrAdd({ link: "u1", cidr: "fd00:2::2/64" })
    .commit();
  return { a, b };
}

test("ping across a veth pair made by the library (v4 and v6)", { skip, timeout: 20_000 }, async (t) => {
  const { a, b } = await pair(sandbox(t));
  await ping(a.name, "192.0.2.2");
  await ping(b.name, "192.0.2.1");
  await ping(a.name, "fd00:2::2"); // nodad: no waiting for DAD
});

test("ping across vxlan between two namespaces", { skip, timeout: 20_000 }, async (t) => {
  const { a, b } = await pair(sandbox(t));
  for (const [side, local, remote, overlay] of [
    [a, "192.0.2.1", "192.0.2.2", "10.200.0.1/24"],
    [b, "192.0.2.2", "192.0.2.1", "10.200.0.2/24"],
  ] as const) {
    await side.ns
      .batch()
      .linkAdd({
        kind: "vxlan",
        attrs: { name: "vx0", mtu: 1450, up: true },
        vni: 4242,
        local,
        remote,
        port: 4789,
        underlay: side === a ? "u0" : "u1",
      })
      .addrAdd({ link: "vx0", cidr: overlay })
      .commit();
  }
  await ping(a.name, "10.200.0.2", 2);
  await ping(b.name, "10.200.0.1");
  const rx = (await b.ns.stats("vx0")).rxPackets;
  assert.ok(rx >= 2n, `vxlan rx ${rx}`);
  // Encapsulated traffic really crossed the underlay.
  assert.ok((await b.ns.stats("u1")).rxBytes > (await b.ns.stats("vx0")).rxBytes);
});

test(
  "ping across wireguard-go between two namespaces",
  { skip: skip || (!hasWgGo && "wireguard-go or nsenter not installed"), timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const { a, b } = await pair(sb);
    const ka = generateKeyPair(),
      kb = generateKeyPair();
    assert.equal(publicKeyOf(ka.privateKey), ka.publicKey);
    assert.match(ka.publicKey, /^[A-Za-z0-9+/]{43}=$/);
    const [na, nb] = [sb.name(), sb.name()]; // names are host-global (UAPI socket path)
    const wa = await WireguardDevice.start({ netns: a.ns, name: na });
    sb.cleanup.push(`stop ${na}`, () => wa.stop());
    const wb = await WireguardDevice.start({ netns: b.ns, name: nb });
    sb.cleanup.push(`stop ${nb}`, () => wb.stop());
    // The tun device was born in each target netns, not in ours.
    assert.ok(ipJson<{ ifname: string }[]>("-n", a.name, "link", "show").some((l) => l.ifname === na));
    assert.ok(!ipJson<{ ifname: string }[]>("link", "show").some((l) => l.ifname === na));

    await a.ns.batch().addrAdd({ link: na, cidr: "10.201.0.1/24" }).linkSetUp(na).commit();
    await b.ns.batch().addrAdd({ link: nb, cidr: "10.201.0.2/24" }).linkSetUp(nb).commit();
    // b first: a's persistent keepalive starts a handshake at once, and one that reaches an
    // unconfigured b is lost and only retried after 5 s (REKEY_TIMEOUT).
    await wb.configure({
      privateKey: kb.privateKey,
      listenPort: 51821,
      peers: [{ publicKey: ka.publicKey, endpoint: "192.0.2.1:51820", allowedIps: ["10.201.0.0/24", "fd00:201::/64"] }],
    });
    await wa.configure({
      privateKey: ka.privateKey,
      listenPort: 51820,
      peers: [
        {
          publicKey: kb.publicKey,
          endpoint: "192.0.2.2:51821",
          allowedIps: ["10.201.0.2/32"],
          persistentKeepalive: 10,
        },
      ],
    });

    const info = await wa.info();
    assert.equal(info.publicKey, ka.publicKey);
    assert.equal(info.listenPort, 51820);
    assert.deepEqual(
      info.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIps, p.persistentKeepalive]),
      [[kb.publicKey, "192.0.2.2:51821", ["10.201.0.2/32"], 10]],
    );
    assert.deepEqual((await wb.info()).peers[0]!.allowedIps.sort(), ["10.201.0.0/24", "fd00:201::/64"]);

    await ping(a.name, "10.201.0.2", 3);
    const peer = await wa.waitHandshake(kb.publicKey, 5000);
    assert.ok(peer.lastHandshake > 0 && peer.rxBytes > 0n && peer.txBytes > 0n);
    const sock = wa.socketPath;
    await wa.stop();
    await wa.stop(); // idempotent
    assert.equal(existsSync(sock), false, "wireguard-go removed its UAPI socket");
    assert.ok(
      !ipJson<{ ifname: string }[]>("-n", a.name, "link", "show").some((l) => l.ifname === na),
      "interface went with the process",
    );
  },
);

test(
  "wireguard: bad key and duplicate interface name are clear errors",
  { skip: skip || (!hasWgGo && "wireguard-go or nsenter not installed"), timeout: 20_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns();
    const name = sb.name();
    const w = await WireguardDevice.start({ netns: a.ns, name });
    sb.cleanup.push(`stop ${name}`, () => w.stop());
    await assert.rejects(w.configure({ privateKey: "not-a-key" }), {
      code: "EINVAL",
      message: /invalid private key "not-a-key"/,
    });
    await assert.rejects(
      w.configure({ peers: [{ publicKey: generateKeyPair().publicKey, endpoint: "nowhere" }] }),
      /invalid endpoint "nowhere"/,
    );
    await assert.rejects(WireguardDevice.start({ netns: a.ns, name }), { code: "EEXIST" });
  },
);
