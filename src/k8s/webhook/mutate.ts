/**
 * The admission review of upstream's cmd-admission-webhook-k8s as a pure function: given an
 * AdmissionReview v1 request (and the object's Namespace), the response — always allowed; for
 * a Pod, or the pod template of a Deployment/DaemonSet/StatefulSet/ReplicaSet, that carries the
 * NSM annotation (a Pod may inherit it from its Namespace), a JSON Patch of four `add`s:
 * init containers (+nsc-init), containers (+nsc), volumes (+spire-agent-socket, nsm-socket)
 * and labels (+NSM_LABELS). The annotation value is the comma list of NS URLs the client asks
 * for (kernel://service[@domain]/ifname?label=value), handed to the containers verbatim.
 *
 *   const res = review(admissionRequest, namespaceObj, cfg); // { uid, allowed: true, patchType, patch, warnings? }
 */
import { randomUUID } from "node:crypto";

export interface WebhookConfig {
  annotation: string;
  labels: Record<string, string>;
  nsurlEnvName: string;
  initContainerImages: string[];
  containerImages: string[];
  envs: string[];
  limitsMemory: string;
  limitsCpu: string;
  requestsMemory: string;
  requestsCpu: string;
}

type Obj = Record<string, unknown>;
export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  object?: Obj;
}
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: "JSONPatch";
  /** base64 of the JSON Patch */
  patch?: string;
  warnings?: string[];
}
export interface PatchOp {
  op: "add";
  path: string;
  value: unknown;
}
export interface ReviewResult {
  response: AdmissionResponse;
  /** what happened, for the log */
  why: string;
  ops?: PatchOp[];
}

const TEMPLATE_KINDS = new Set(["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"]);
export const PSA_LABEL = "pod-security.kubernetes.io/enforce";
const SPIRE_DIR = "/run/spire/sockets";
const NSM_DIR = "/var/lib/networkservicemesh";

/**
 * Checks an annotation value against the NS URL grammar; returns the problem or undefined.
 * Every comma item must be `scheme://service[...]` with a service name.
 */
export function annotationProblem(value: string): string | undefined {
  for (const item of value.split(",")) {
    const s = item.trim();
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return `"${s}" is not a URL (want scheme://service[@domain][/ifname][?labels])`;
    }
    if (!/^[a-z][a-z0-9+.-]*:$/.test(u.protocol) || !u.host)
      return `"${s}" names no network service (want scheme://service/...)`;
  }
  return undefined;
}

/** `registry/x/cmd-nsc:v1.2` → `cmd-nsc` (upstream's container name for an image). */
export function containerName(image: string): string {
  const last = image.split("/").pop() ?? image;
  return last.split("@")[0]!.split(":")[0]!;
}

function podLevel(ns: Obj | undefined): "privileged" | "baseline" | "restricted" {
  const v = ((ns?.metadata as Obj | undefined)?.labels as Record<string, string> | undefined)?.[PSA_LABEL];
  return v === "baseline" || v === "restricted" ? v : "privileged";
}

function envFor(cfg: WebhookConfig, value: string, generateName: boolean): Obj[] {
  const env: Obj[] = cfg.envs.map((kv) => {
    const i = kv.indexOf("=");
    return i < 0 ? { name: kv, value: "" } : { name: kv.slice(0, i), value: kv.slice(i + 1) };
  });
  env.push(
    { name: "SPIFFE_ENDPOINT_SOCKET", value: `unix://${SPIRE_DIR}/agent.sock` },
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: cfg.nsurlEnvName, value },
    { name: "NSM_NAME", value: generateName ? "$(POD_NAME)" : `$(POD_NAME)-${randomUUID()}` },
  );
  return env;
}

/** SR-IOV resources the annotation asks for (`?sriovToken=resource/capability`), counted. */
function sriovLimits(value: string): Record<string, string> {
  const counts: Record<string, number> = {};
  for (const item of value.split(",")) {
    try {
      const tok = new URL(item.trim()).searchParams.get("sriovToken");
      if (tok) counts[tok] = (counts[tok] ?? 0) + 1;
    } catch {
      /* checked before */
    }
  }
  return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, String(n)]));
}

function container(
  cfg: WebhookConfig,
  image: string,
  env: Obj[],
  level: string,
  extraLimits: Record<string, string>,
): Obj {
  const c: Obj = {
    name: containerName(image),
    image,
    imagePullPolicy: "IfNotPresent",
    env,
    volumeMounts: [
      { name: "spire-agent-socket", mountPath: SPIRE_DIR, readOnly: true },
      { name: "nsm-socket", mountPath: NSM_DIR, readOnly: true },
    ],
    resources: {
      // upstream drops the SR-IOV limits here by replacing the whole object; we keep them
      limits: { ...extraLimits, cpu: cfg.limitsCpu, memory: cfg.limitsMemory },
      requests: { cpu: cfg.requestsCpu, memory: cfg.requestsMemory },
    },
  };
  if (level === "restricted") c.securityContext = { capabilities: { drop: ["ALL"] }, allowPrivilegeEscalation: false };
  return c;
}

function volumes(level: string): Obj[] {
  if (level === "privileged")
    return [
      { name: "spire-agent-socket", hostPath: { path: SPIRE_DIR, type: "Directory" } },
      { name: "nsm-socket", hostPath: { path: NSM_DIR, type: "Directory" } },
    ];
  return [
    { name: "spire-agent-socket", csi: { driver: "csi.spiffe.io", readOnly: true } },
    { name: "nsm-socket", csi: { driver: "csi.networkservicemesh.io", readOnly: true } },
  ];
}

export function review(req: AdmissionRequest, namespace: Obj | undefined, cfg: WebhookConfig): ReviewResult {
  const allow = (why: string, warnings?: string[]): ReviewResult => ({
    response: { uid: req.uid, allowed: true, ...(warnings ? { warnings } : {}) },
    why,
  });
  if (req.operation !== "CREATE") return allow(`operation ${req.operation ?? "?"}: nothing to do`);
  const kind = req.kind?.kind ?? "";
  const obj = req.object;
  if (!obj || typeof obj !== "object") return allow("no object");
  const ownMeta = (obj.metadata ?? {}) as Obj;
  let meta: Obj, spec: Obj, base: string;
  if (kind === "Pod") {
    meta = ownMeta;
    spec = (obj.spec ?? {}) as Obj;
    base = "";
  } else if (TEMPLATE_KINDS.has(kind)) {
    const owners = (ownMeta.ownerReferences ?? []) as Obj[];
    if (kind === "ReplicaSet" && owners.some((o) => o.kind === "Deployment"))
      return allow("ReplicaSet of a Deployment");
    const tpl = ((obj.spec as Obj | undefined)?.template ?? {}) as Obj;
    meta = (tpl.metadata ?? {}) as Obj;
    spec = (tpl.spec ?? {}) as Obj;
    base = "/spec/template";
  } else return allow(`kind ${kind}: not handled`);

  let value = ((ownMeta.annotations ?? {}) as Record<string, string>)[cfg.annotation] ?? "";
  if (value && base && Object.keys((meta.annotations ?? {}) as Obj).length) {
    const msg = `${kind} ${String(ownMeta.name ?? "")}: malformed: the pod template has annotations of its own; ${cfg.annotation} is not applied`;
    return allow(msg, [msg]);
  }
  if (!value && kind === "Pod")
    value =
      (((namespace?.metadata as Obj | undefined)?.annotations ?? {}) as Record<string, string>)[cfg.annotation] ?? "";
  if (!value) return allow("no annotation");
  const problem = annotationProblem(value);
  if (problem) {
    const msg = `annotation ${cfg.annotation}=${JSON.stringify(value)}: ${problem}; no NSM containers injected`;
    return allow(msg, [msg]);
  }

  const level = podLevel(namespace);
  const env = envFor(cfg, value, Boolean(ownMeta.generateName));
  const sriov = sriovLimits(value);
  const ops: PatchOp[] = [
    {
      op: "add",
      path: `${base}/spec/initContainers`,
      value: [
        ...((spec.initContainers ?? []) as Obj[]),
        ...cfg.initContainerImages.map((i) => container(cfg, i, env, level, sriov)),
      ],
    },
    {
      op: "add",
      path: `${base}/spec/containers`,
      value: [
        ...((spec.containers ?? []) as Obj[]),
        ...cfg.containerImages.map((i) => container(cfg, i, env, level, {})),
      ],
    },
    { op: "add", path: `${base}/spec/volumes`, value: [...((spec.volumes ?? []) as Obj[]), ...volumes(level)] },
    { op: "add", path: `${base}/metadata/labels`, value: { ...((meta.labels ?? {}) as Obj), ...cfg.labels } },
  ];
  return {
    response: {
      uid: req.uid,
      allowed: true,
      patchType: "JSONPatch",
      patch: Buffer.from(JSON.stringify(ops)).toString("base64"),
    },
    why: `patched (${level})`,
    ops,
  };
}
