/** `nsm native-links <netns path>`: prints the links of a netns as JSON lines (a probe of the addon). */
export async function run(args: string[]): Promise<number> {
  const path = args[0] ?? "/proc/self/ns/net";
  if (path === "--help") {
    console.log("usage: nsm native-links [netns path]   (default /proc/self/ns/net)");
    return 0;
  }
  const { linkList } = await import("../native.js");
  for (const l of await linkList(path)) console.log(JSON.stringify(l));
  return 0;
}
