/**
 * `NSM_UP_SCENARIO=vl3` of `nsm up`: an IPAM service and a vL3 endpoint on each of the two nodes
 * (the second links to the first), then how to join clients, each in a namespace of its own.
 */
import type { Mesh } from "../mesh/index.js";
import { startSupervisor } from "../mesh/supervisor.js";
import { DEFAULT_SOCKET, type readConfig } from "./up.js";

export async function startVl3(
  mesh: Mesh,
  cfg: ReturnType<typeof readConfig>,
  step: (s: string) => void,
  t0: number,
): Promise<void> {
  let ipam, nses;
  try {
    step("IPAM service ipam-vl3 (172.16.0.0/16, a /24 per vL3 endpoint)");
    ipam = await mesh.startIpam({ prefix: "172.16.0.0/16", clientPrefixLen: 24 });
    nses = [];
    for (const node of [0, 1]) {
      step(`vL3 endpoint vl3-${node} on node ${node} (service "${cfg.service}")`);
      nses.push(
        await mesh.startVl3Nse(node, { name: `vl3-${node}`, prefixServerUrl: ipam.url, services: [cfg.service] }),
      );
    }
    startSupervisor(mesh.state);
  } catch (e) {
    await mesh.close().catch(() => undefined);
    throw e;
  }
  const s = mesh.state;
  const connectTo = cfg.socket === DEFAULT_SOCKET ? "" : `NSM_CONNECT_TO=unix://${cfg.socket} `;
  console.log(
    [
      `nsm up: local vL3 mesh "${cfg.id}" is running (${((Date.now() - t0) / 1000).toFixed(1)} s; state ${cfg.stateFile}, logs ${cfg.dir}/*.log)`,
      "",
      `  fabric    netns ${s.fabric}   registry ${s.registryUrl}   ipam-vl3 ${ipam.url} (pid ${ipam.pid})`,
      ...s.nodes.map(
        (n, i) =>
          `  node ${i}    netns ${n.netns}    ${n.ip}   nsmgr-${i} ${i === 0 ? `unix://${cfg.socket}, ` : ""}${n.nsmgrUrl}   forwarder-${i} kernel   vl3-${i} in netns ${nses[i]!.workload} (pid ${nses[i]!.pid})`,
      ),
      `  supervisor  pid ${s.supervisor!.pid}`,
      "",
      "Join clients, each from a namespace of its own (node 0's nsmgr); each gets an address in 172.16.0.0/16",
      `and the DNS name <POD_NAME>.${cfg.service} (its nsc points /etc/netns/<ns>/resolv.conf at its DNS proxy):`,
      "",
      "  ip netns add alice; ip -n alice link set lo up",
      `  ip netns exec alice env NSM_NETWORK_SERVICES=kernel://${cfg.service}/nsm-1 POD_NAME=alice ${connectTo}npx nsm nsc &`,
      "  ip netns add bob; ip -n bob link set lo up",
      `  ip netns exec bob env NSM_NETWORK_SERVICES=kernel://${cfg.service}/nsm-1 POD_NAME=bob ${connectTo}npx nsm nsc &`,
      `  ip netns exec alice ping -c 3 bob.${cfg.service}`,
      "",
      "Stop everything (processes, namespaces, links, sockets): npx nsm down",
    ].join("\n"),
  );
}
