import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPair, parseUapiGet, publicKeyOf, uapiSetRequest } from "./wireguard.js";

const hasWg = (() => {
  try {
    execFileSync("wg", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

test(
  "x25519 keys: base64, public key derivation matches `wg pubkey`",
  { skip: !hasWg && "wireguard-tools not installed" },
  () => {
    const k = generateKeyPair();
    assert.match(k.privateKey, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(publicKeyOf(k.privateKey), k.publicKey);
    assert.equal(execFileSync("wg", ["pubkey"], { input: k.privateKey + "\n", encoding: "utf8" }).trim(), k.publicKey);
  },
);

test("UAPI set request: hex keys, peers, ends with an empty line", () => {
  const k = generateKeyPair(),
    p = generateKeyPair();
  const r = uapiSetRequest({
    privateKey: k.privateKey,
    listenPort: 51820,
    peers: [
      {
        publicKey: p.publicKey,
        endpoint: "[fd00::2]:51820",
        allowedIps: ["10.0.0.0/24", "::/0"],
        persistentKeepalive: 25,
      },
    ],
  });
  assert.ok(r.endsWith("\n\n") && !r.endsWith("\n\n\n"));
  assert.deepEqual(r.trim().split("\n"), [
    "set=1",
    `private_key=${Buffer.from(k.privateKey, "base64").toString("hex")}`,
    "listen_port=51820",
    "replace_peers=true",
    `public_key=${Buffer.from(p.publicKey, "base64").toString("hex")}`,
    "endpoint=[fd00::2]:51820",
    "persistent_keepalive_interval=25",
    "replace_allowed_ips=true",
    "allowed_ip=10.0.0.0/24",
    "allowed_ip=::/0",
  ]);
  assert.throws(() => uapiSetRequest({ privateKey: "short" }), /invalid private key/);
  assert.throws(
    () => uapiSetRequest({ peers: [{ publicKey: p.publicKey, allowedIps: ["10.0.0.0/40"] }] }),
    /prefix length/,
  );
});

test("UAPI get response parsing", () => {
  const k = generateKeyPair(),
    p = generateKeyPair();
  const hexOf = (b64: string): string => Buffer.from(b64, "base64").toString("hex");
  const info = parseUapiGet(
    [
      `private_key=${hexOf(k.privateKey)}`,
      "listen_port=51820",
      `public_key=${hexOf(p.publicKey)}`,
      "endpoint=10.0.0.2:51821",
      "last_handshake_time_sec=1700000000",
      "last_handshake_time_nsec=5",
      "tx_bytes=100",
      "rx_bytes=18446744073709551615",
      "persistent_keepalive_interval=10",
      "allowed_ip=10.0.0.0/24",
      "protocol_version=1",
    ].join("\n") + "\n",
  );
  assert.equal(info.publicKey, k.publicKey);
  assert.equal(info.listenPort, 51820);
  assert.deepEqual(info.peers, [
    {
      publicKey: p.publicKey,
      endpoint: "10.0.0.2:51821",
      allowedIps: ["10.0.0.0/24"],
      persistentKeepalive: 10,
      lastHandshake: 1700000000,
      rxBytes: 18446744073709551615n,
      txBytes: 100n,
    },
  ]);
});
