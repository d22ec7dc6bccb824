// The node format of a TF.js graph model's model.json (GraphDef as protobuf
// JSON): what reads it, the session builder and the standard-layer inliner, share.

export interface NodeAttr {
  type?: string;
  i?: string;
  f?: number;
  b?: boolean;
  /** base64 */
  s?: string;
  shape?: { dim?: { size: string }[]; unknownRank?: boolean };
  list?: { i?: string[]; s?: string[]; type?: string[] };
  tensor?: unknown;
}

export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, NodeAttr>;
}

/** A string attribute's text (protobuf JSON keeps bytes as base64). */
export const attrText = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** The ops a converter-fused node (_FusedConv2D, _FusedMatMul, ...) applies after its own: ['BiasAdd', 'Relu'], say. */
export const fusedOps = (node: GraphNode): string[] => (node.attr?.fused_ops?.list?.s ?? []).map(attrText);
