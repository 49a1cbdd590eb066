// Maps nested by key part, one level per part: finding the entry for a combination of label
// values builds no string key, so hot-path lookups allocate nothing (a joined key such as
// `${app}|${operation}|…` is a new string on every call).

export type KeyPart = string | number;
export type KeyTree<T> = Map<KeyPart, T | KeyTree<T>>;

/** The entry under `keys`, or undefined. Every lookup in one tree must use the same number of parts. */
export function findIn<T>(tree: KeyTree<T>, keys: readonly KeyPart[]): T | undefined {
  let node: KeyTree<T> | undefined = tree;
  const last = keys.length - 1;
  for (let i = 0; i < last && node !== undefined; i++) node = node.get(keys[i]) as KeyTree<T> | undefined;
  return node?.get(keys[last]) as T | undefined;
}

/** Stores `value` under `keys` (making the levels on the way) and returns it. */
export function insertIn<T>(tree: KeyTree<T>, keys: readonly KeyPart[], value: T): T {
  let node: KeyTree<T> = tree;
  const last = keys.length - 1;
  for (let i = 0; i < last; i++) {
    let next = node.get(keys[i]) as KeyTree<T> | undefined;
    if (next === undefined) node.set(keys[i], (next = new Map()));
    node = next;
  }
  node.set(keys[last], value);
  return value;
}
