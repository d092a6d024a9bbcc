/**
 * iperf3 between two network namespaces, for tests and benchmarks: a one-shot server in `to`, a
 * client in `from`. A path that cannot carry TCP fails within seconds instead of hanging on
 * iperf3's control connection.
 *
 *   const gbps = await iperf3("nsc-ns", "nse-ns", "172.16.7.100", 3);
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);
const ip = (...a: string[]) => exec("ip", a);

/**
 * One iperf3 TCP run from netns `from` to `addr` (served in netns `to`); Gbit/s received.
 * A path that cannot carry TCP fails within seconds (connect timeout + a hard kill) with
 * `diagnose()`'s text, instead of hanging on iperf3's control connection.
 */
export async function iperf3(
  from: string,
  to: string,
  addr: string,
  seconds: number,
  diagnose: () => Promise<string> = async () => "",
): Promise<number> {
  const srv = spawn("ip", ["netns", "exec", to, "iperf3", "-s", "-1", "-B", addr], { stdio: "ignore" });
  try {
    for (const until = Date.now() + 5000; ;) {
      const { stdout } = await ip("netns", "exec", to, "ss", "-ltnH", "sport", "= :5201");
      if (stdout.trim()) break;
      if (Date.now() > until) throw new Error(`iperf3 server on ${addr} in ${to} did not listen`);
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      const { stdout } = await exec(
        "ip",
        ["netns", "exec", from, "iperf3", "-J", "-c", addr, "-t", String(seconds), "--connect-timeout", "3000"],
        { timeout: (seconds + 8) * 1000, killSignal: "SIGKILL", maxBuffer: 1 << 24 },
      );
      const j = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
      const bps = j.end?.sum_received?.bits_per_second;
      if (bps === undefined) throw new Error(j.error ?? "no sum_received in iperf3's JSON");
      return bps / 1e9;
    } catch (e) {
      throw new Error(
        `iperf3 ${from} → ${addr} (${to}) failed: ${(e as Error).message.slice(0, 300)}\n${await diagnose()}`,
        {
          cause: e,
        },
      );
    }
  } finally {
    srv.kill("SIGKILL");
  }
}
